//! Digests: periods in the user's time zone across DST, never empty, exactly once per period
//! even across restarts, delivered through the dispatcher's lease/retry machinery.
