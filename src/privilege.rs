//! Giving up root: when hhmon starts as root with `--user NAME`, it opens what needs privileges
//! (the capture socket, a listener on a low port) and then becomes that user for good, before
//! it reads a single packet. Knows nothing of capture or sinks.
//!
//! The switch sets the supplementary groups (the user's, from the group database, as
//! `tcpdump -Z` does), then the real, effective and saved group IDs, then the three user IDs, in
//! that order: once the user ID is no longer 0 the others could not be changed. glibc applies
//! each call to every thread of the process. A user ID other than 0 also clears every
//! capability, so nothing of root remains; the switch then checks that root cannot be regained.

use nix::unistd::{self, Gid, Uid, User};
use std::ffi::CString;

/// Why hhmon could not become the requested user.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The user is not in the user database.
    #[error("no such user {name}")]
    NoSuchUser {
        /// The name given.
        name: String,
    },
    /// The user database could not be read.
    #[error("cannot look up user {name}: {reason}")]
    Lookup {
        /// The name given.
        name: String,
        /// The system's words.
        reason: String,
    },
    /// Only root can become another user.
    #[error("--user {name} needs hhmon to start as root, but it runs as uid {uid}; without root, run it as {name} directly with CAP_NET_RAW")]
    NotRoot {
        /// The name given.
        name: String,
        /// The effective user ID hhmon runs as.
        uid: u32,
    },
    /// A step of the switch failed; hhmon must not go on half-privileged.
    #[error("cannot become user {name}: {step} failed: {reason}")]
    Switch {
        /// The user.
        name: String,
        /// The call that failed.
        step: &'static str,
        /// The system's words.
        reason: String,
    },
}

/// The user to become: looked up (and root checked) before anything is opened, so a typo fails
/// at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    name: String,
    uid: Uid,
    gid: Gid,
}

impl Account {
    /// Looks `name` up in the user database.
    ///
    /// # Errors
    ///
    /// [`Error::NotRoot`] when hhmon does not run as root, [`Error::NoSuchUser`] or
    /// [`Error::Lookup`] when the user cannot be found.
    pub fn lookup(name: &str) -> Result<Self, Error> {
        let euid = unistd::geteuid();
        if !euid.is_root() {
            return Err(Error::NotRoot {
                name: name.to_owned(),
                uid: euid.as_raw(),
            });
        }
        match User::from_name(name) {
            Ok(Some(user)) => Ok(Self {
                name: name.to_owned(),
                uid: user.uid,
                gid: user.gid,
            }),
            Ok(None) => Err(Error::NoSuchUser {
                name: name.to_owned(),
            }),
            Err(errno) => Err(Error::Lookup {
                name: name.to_owned(),
                reason: errno.desc().to_owned(),
            }),
        }
    }

    /// The user's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The user's ID.
    pub fn uid(&self) -> u32 {
        self.uid.as_raw()
    }

    /// The user's primary group ID.
    pub fn gid(&self) -> u32 {
        self.gid.as_raw()
    }

    /// Becomes this user for the rest of the process's life.
    ///
    /// # Errors
    ///
    /// [`Error::Switch`] naming the step that failed, including the final check that root
    /// cannot be regained.
    pub fn become_user(&self) -> Result<(), Error> {
        let failed = |step: &'static str, reason: &str| Error::Switch {
            name: self.name.clone(),
            step,
            reason: reason.to_owned(),
        };
        let name = CString::new(self.name.as_str())
            .map_err(|_| failed("initgroups", "the name contains a NUL byte"))?;
        unistd::initgroups(&name, self.gid).map_err(|e| failed("initgroups", e.desc()))?;
        unistd::setresgid(self.gid, self.gid, self.gid)
            .map_err(|e| failed("setresgid", e.desc()))?;
        unistd::setresuid(self.uid, self.uid, self.uid)
            .map_err(|e| failed("setresuid", e.desc()))?;
        if !self.uid.is_root()
            && unistd::setresuid(Uid::from_raw(0), Uid::from_raw(0), Uid::from_raw(0)).is_ok()
        {
            return Err(failed("dropping root", "root could be regained"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_users_are_named() {
        // Unit tests run as root in CI (the lookup checks that first).
        match Account::lookup("hhmon-no-such-user") {
            Err(Error::NoSuchUser { name }) => assert_eq!(name, "hhmon-no-such-user"),
            other => panic!("expected NoSuchUser, got {other:?}"),
        }
    }

    #[test]
    fn nobody_is_found_with_its_ids() {
        let nobody = Account::lookup("nobody").unwrap();
        assert_eq!(nobody.name(), "nobody");
        // Debian's base-passwd: nobody is 65534, its group nogroup 65534.
        assert_eq!((nobody.uid(), nobody.gid()), (65534, 65534));
    }
}
