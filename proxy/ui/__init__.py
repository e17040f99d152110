"""The memory inspector's static files, served at /ui (proxy/http/ui.py); package data in
pyproject.toml, so a wheel carries them."""

__all__ = ["FILES"]

# Name -> media type: the only files /ui serves.
FILES = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
}
