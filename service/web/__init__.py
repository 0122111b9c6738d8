"""The server-rendered dashboard: the question list at /, a page per question, the fits.

Plain HTML from Jinja2 templates, one stylesheet and one small script under /static (no
build step, nothing from a CDN). The pages read like anonymous API clients: with
``HELSINKI_PUBLIC_READS=false`` they answer 401 with a page saying the dashboard needs public
reads on (``HELSINKI_PUBLIC_READS=true``); the API itself still serves keys with role reader.
The forms post to the API with the user's key (``Authorization: Bearer``).
"""
