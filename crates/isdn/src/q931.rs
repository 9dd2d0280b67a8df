//! Q.931 EuroISDN / DSS1 messages (ITU-T Q.931, ETSI EN 300 403): see the module files.
