//! `--instance i/n`: one generator's share of a run spread over several (a domain value the
//! plan splits loads with; `cli.rs` only parses it). A leaf module, as `think.rs`: both the
//! command line and the plan use it, so neither of those has to import the other both ways
//! (the plan is built from the command line: plan → cli, never back).

/// One share of a run spread over several generators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Instance {
    /// 0-based index.
    pub index: u32,
    /// Number of instances.
    pub count: u32,
}

impl Instance {
    /// This instance's share of `c` virtual users: shares differ by at most one.
    pub fn share_of_users(&self, c: u32) -> u32 {
        c / self.count + u32::from(self.index < c % self.count)
    }

    /// This instance's share of an arrival rate.
    pub fn share_of_rate(&self, r: f64) -> f64 {
        r / f64::from(self.count)
    }
}

impl std::fmt::Display for Instance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}
