"""The web page for people (static assets only; served by functions/api/routes_web.py)."""
