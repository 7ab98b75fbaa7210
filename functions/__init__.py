"""Everything under functions/ ships to AWS Lambda. No torch, no transformers here."""
