"""Build-time fixes for the stock Jupyter Book 1 page.

Inline scripts that extensions add after the builder starts (sphinx-thebe's
configuration, sphinx-togglebutton's selector) are registered once with the
file name None and again, by Sphinx 7.4's builder, with the file name '', so
each page declared `const THEBE_JS_URL` twice and logged a SyntaxError. Treat
None and '' as the same file and drop the repeats before the page is rendered.
"""


def _script_key(script):
    attributes = getattr(script, "attributes", {})
    return str(getattr(script, "filename", script) or ""), tuple(sorted((k, str(v)) for k, v in attributes.items()))


def drop_duplicate_scripts(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for script in scripts:
        key = _script_key(script)
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"] = unique


def setup(app):
    app.connect("html-page-context", drop_duplicate_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
