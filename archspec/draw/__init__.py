"""Pictures: the graph and volumes views with graphviz (render.py, view.py, volumes.py, fit.py), the
interactive page (html.py) and its live server (serve.py). Nothing here imports torch."""
