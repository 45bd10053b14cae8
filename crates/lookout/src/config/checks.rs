//! Checks shared by several tables and files: unique ids, known organisations, MMSIs, email
//! addresses, environment variables, durations.

use std::ops::Range;
use std::time::Duration;

use lookout_notify::model::Model;

use super::EnvSource;
use super::problems::{File, Problems};
use super::raw::S;

/// Where a check reports: the file, the entry (`user "alice"`) and the problem list.
pub(crate) struct At<'a> {
    pub(crate) p: &'a mut Problems,
    pub(crate) f: &'a File,
    pub(crate) entry: &'a str,
}

impl At<'_> {
    /// A problem at `span`, field `field`.
    pub(crate) fn problem(&mut self, span: Range<usize>, field: &str, message: String) {
        self.p.at(self.f, span, self.entry, field, message);
    }

    /// False (after a problem) when `taken`: the id is already used by another `what`.
    pub(crate) fn unique_id(&mut self, taken: bool, id: &S<String>, what: &str) -> bool {
        if taken {
            self.problem(
                id.span(),
                "id",
                format!("duplicate {what} id {:?}", id.get_ref()),
            );
        }
        !taken
    }

    /// A problem when `org` names no organisation of the users file.
    pub(crate) fn known_org(&mut self, model: &Model, org: &S<String>) {
        if !model.orgs.contains_key(org.get_ref()) {
            self.problem(
                org.span(),
                "org",
                format!("unknown organisation {:?}", org.get_ref()),
            );
        }
    }

    /// A problem when `mmsi` is not a nine-digit number.
    pub(crate) fn mmsi(&mut self, mmsi: &S<u32>) {
        if !(1..=999_999_999).contains(mmsi.get_ref()) {
            self.problem(
                mmsi.span(),
                "mmsi",
                format!("{} is not a nine-digit MMSI", mmsi.get_ref()),
            );
        }
    }

    /// A problem when `address` is not one the SMTP channel accepts.
    pub(crate) fn email(&mut self, field: &str, address: &S<String>) {
        if let Err(msg) = lookout_notify::config::check_address(address.get_ref()) {
            self.problem(address.span(), field, msg);
        }
    }

    /// The value of the environment variable `var`, or a problem when it is unset (or empty,
    /// when `non_empty`: a webhook secret).
    pub(crate) fn env_var(
        &mut self,
        env: &dyn EnvSource,
        field: &str,
        var: &str,
        span: Range<usize>,
        non_empty: bool,
    ) -> Option<String> {
        match env.var(var) {
            Some(value) if !(non_empty && value.is_empty()) => Some(value),
            _ => {
                self.problem(
                    span,
                    field,
                    format!("environment variable {var} is not set"),
                );
                None
            }
        }
    }

    /// The duration of `value` (zero allowed), or a problem.
    pub(crate) fn duration(&mut self, field: &str, value: &S<String>) -> Option<Duration> {
        lookout_core::config::parse_duration(value.get_ref())
            .map_err(|msg| self.problem(value.span(), field, msg))
            .ok()
    }
}
