"""Stage 4 of the flow: a model as a chess player for people and GUIs.

``uci`` is the UCI engine (`chessformer uci`), ``play`` the terminal game (`chessformer play`),
``demo`` the first-run demonstration (`chessformer demo`), ``bundled`` the model shipped inside
the package.
"""
