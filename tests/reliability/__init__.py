"""Bad input, faulty merchants, concurrency, crashes: marked slow."""
