"""The clinic's rules in plain Python: no boto3, no I/O, and the clock passed in."""
