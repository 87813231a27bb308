"""The annotator's web side: a FastAPI app over the same database (`candlelab serve`).

`app.create_app` builds it; `access` guards it with hashed access tokens whenever it is
served beyond this machine; `windows` encodes candle windows compactly.
"""
