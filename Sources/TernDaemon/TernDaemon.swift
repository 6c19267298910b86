// TernDaemon
