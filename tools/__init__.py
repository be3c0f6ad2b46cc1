"""Stand-alone tools for people outside the project (an auditor checking exports against the digests)."""
