"""Stage 2 of the flow: the GPT, its training, checkpoints and the nanoGPT bridge.

``gpt`` is the transformer (one torch definition), ``train`` the training loop (`chessformer
train`), ``checkpoint`` the run-folder format, ``convert`` the nanoGPT import/export
(`chessformer convert`).
"""
