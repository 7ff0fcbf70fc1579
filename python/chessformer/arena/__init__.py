"""Stage 5 of the flow: games against Stockfish and the ratings they give.

``stockfish`` drives UCI engines we play against, ``match`` runs matches (`chessformer match`),
``ratings`` fits Glicko-2 and Bradley–Terry, ``report`` turns results into tables and plots
(`chessformer report`).
"""
