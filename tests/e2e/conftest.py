"""The e2e tests share the root conftest's platform (one start per session)."""
