"""Fixtures of the protocol end-to-end tests."""

from tests.e2e.recording_upstream import recorder

__all__ = ["recorder"]
