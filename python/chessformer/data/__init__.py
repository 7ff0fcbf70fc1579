"""Stage 1 of the flow: PGN text to training batches.

``pgn`` reads games (the C++ streaming parser), ``prep`` turns PGN files into token shards
(`chessformer prep`), ``tokenizers`` describes the token vocabularies, ``dataset`` reads the
shards back as training batches, ``lichess_sample`` rewrites games in Lichess's export format.
"""
