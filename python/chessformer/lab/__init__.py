"""The transcendence lab: experts whose errors we control, their games, a model trained on them,
and everything rated on one scale (``chessformer lab``; docs/lab.md)."""
