"""Experiments: replays kept for the team, compared item by item and over time.

An experiment is a run record stored in AWS (its header in DynamoDB, its rows as gzip JSON
Lines in S3; the operations are ``service/experiments.py``'s). This package is the notebook
side above the replay: turning a run into a stored experiment and back, and comparing two
experiments (paired, item by item) or many over time.
"""
