"""Display: figures and animations, tables, the FlowLab widget and the live explorer."""
