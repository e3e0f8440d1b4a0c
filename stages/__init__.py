"""Indexing stages as plain functions over msgspec Structs: fetch → parse → extract → write.

Stages know nothing of processes or of the queue; ``pipeline`` runs them. Only ``stages.write`` talks to Postgres.
"""
