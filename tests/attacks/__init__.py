"""Issue 12 attack suite: each row of the attack table against a real server process."""
