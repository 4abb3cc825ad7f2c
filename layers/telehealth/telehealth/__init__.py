"""The shared package of the telehealth platform, shipped to every function as a Lambda layer.

Imports run one way: ``domain`` (pure rules) <- ``ports`` (Protocols) <- ``adapters`` (AWS) and
the functions that wire them. Nothing here imports boto3 at module level.
"""
