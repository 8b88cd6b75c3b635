"""The web dashboard served by the daemon at ``/`` (see docs/web.md).

Import-light: :mod:`crosswatch.webui.passwords` is used by the command line without Starlette or
Jinja2; :func:`crosswatch.webui.app.routes` builds the pages for the daemon.
"""
