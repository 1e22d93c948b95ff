//! Pure functions of step rows: what each step measured (objectives held, in flight, shed
//! share), the run's closed-loop steps and peaks, the knee, Little's law and the spread of
//! demand. Imports only [`crate::input`] and its own modules.

pub mod knee;
pub mod littles;
pub mod run;
pub mod spread;
pub mod steps;
