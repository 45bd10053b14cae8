//! Lookout AIS feed connections and traffic simulator.
