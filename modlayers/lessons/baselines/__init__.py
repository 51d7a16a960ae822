"""Simple baselines that every notebook prints next to its model's score, one module per task.

A model's metric means little on its own: these say what a model that reads no context, or only
counts words, already gets on the same validation split.
"""
