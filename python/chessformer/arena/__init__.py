"""Stage 5 of the flow: games against Stockfish and the ratings they give.

``stockfish`` is the UCI client for the engines we drive (:class:`UciClient`; our own engine is
``chessformer.engine.uci.UciEngine``); ``players`` makes the model and Stockfish players the match
runner can pit against each other; ``match`` is `chessformer match` (its parts: ``config``,
``folder``, ``schedule``, ``adjudication``, ``runner``, ``match_options``); ``results`` and
``pgn_file`` are the files it writes; ``ratings`` fits Glicko-2 and Bradley–Terry; ``report``
turns results into tables and plots (`chessformer report`).
"""
