//! Q.921 LAPD (ITU-T Q.921, ETSI EN 300 125): see the module files.
