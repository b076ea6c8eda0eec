package main

// dbFile is the name of the SQLite database in the data directory.
const dbFile = "backchannel.db"
