//! AIS NMEA 0183 (AIVDM/AIVDO) decoder and encoder: no I/O, no panics.
