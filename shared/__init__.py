"""Code every mall service uses: settings, envelope, messaging, database, money, logging, web helpers."""
