"""Registered experiments, one module per chapter (imported by ``companion.reproduce``)."""
