"""A local Allora chain speaking the real gRPC protocol, for tests, the demo and benchmarks.

Depends on nothing else of the worker: the worker never knows it talks to a devnet.
"""
