"""The local web page: pick sounds, drag between them, hear the result at once, download it.

``soundmorph serve MODEL`` runs :func:`soundmorph.web.server.serve`; :func:`soundmorph.web.server.create_app`
gives the FastAPI app for tests and embedding. The page itself is plain HTML/CSS/JS in ``static/``:
no build step, nothing fetched from the network.
"""
