"""One module per chapter study, named after its chapter; each builds on the core and never the reverse."""
