//! The embedded store's worklist operations as central and station use
//! them: roster import, assignments, the feed a device downloads, a
//! station's own download from central, the coverage report.

use chrono::{DateTime, Utc};
use doorstep_core::canonical::format_utc_millis;
use doorstep_core::roster::Resident;
use doorstep_wire::NodeRole;
use doorstep_wire::worklist::{Assignment, WorklistPage, WorklistRequest};
use rusqlite::{OptionalExtension, TransactionBehavior};
use uuid::Uuid;

use super::worklist::{self, UpstreamApplied};
use super::{SqliteCentral, registry};
use crate::error::CentralError;
use crate::worklist::{AssignError, AssignMode, AssignmentLine, CoverageReport, RosterImport};

impl SqliteCentral {
    /// Loads a roster extract in one transaction (`central roster import`).
    pub fn import_roster(
        &self,
        residents: &[Resident],
        now: DateTime<Utc>,
    ) -> Result<RosterImport, CentralError> {
        let mut conn = self.lock()?;
        let err = |e| CentralError::sqlite(&self.path, e);
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let report =
            worklist::import_roster(&tx, residents, &format_utc_millis(&now)).map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(report)
    }

    /// Changes what `device` is assigned. On central, `device` must be a
    /// registered node; on a station, a laptop central registered under
    /// it, and the units must lie within what central assigned the station.
    pub fn assign(
        &self,
        device: Uuid,
        mode: AssignMode,
        units: &[String],
        households: &[String],
        now: DateTime<Utc>,
    ) -> Result<Assignment, AssignError> {
        if units.is_empty() && households.is_empty() && mode != AssignMode::Replace {
            return Err(AssignError::Empty);
        }
        if let Some(u) = units.iter().find(|u| !self.units.contains(u)) {
            return Err(AssignError::UnknownUnit(u.clone()));
        }
        let mut conn = self.lock()?;
        let err = |e| AssignError::Store(CentralError::sqlite(&self.path, e));
        let source = match self.role {
            NodeRole::Station => {
                let revoked: Option<bool> = conn
                    .query_row(
                        "SELECT revoked FROM station_devices WHERE device_id = ?1",
                        [device.to_string()],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(err)?;
                match revoked {
                    None => return Err(AssignError::UnknownDevice(device)),
                    Some(true) => return Err(AssignError::Revoked(device)),
                    Some(false) => {}
                }
                let allowed = worklist::upstream_assignment(&conn)
                    .map_err(err)?
                    .ok_or(AssignError::StationNotSynced)?;
                if mode != AssignMode::Remove
                    && let Some(u) = units
                        .iter()
                        .find(|u| !allowed.units.iter().any(|a| self.units.is_within(u, a)))
                {
                    return Err(AssignError::OutsideStation {
                        unit: u.clone(),
                        allowed: allowed.units.join(", "),
                    });
                }
                "station"
            }
            _ => {
                let grants = registry::grants_in(&conn, &self.path, &[device])?;
                let grant = match grants.get(&device) {
                    None => return Err(AssignError::UnknownDevice(device)),
                    Some(g) if g.revoked => return Err(AssignError::Revoked(device)),
                    Some(g) => g,
                };
                if mode != AssignMode::Remove
                    && let Some(u) = units
                        .iter()
                        .find(|u| !self.units.is_within(u, &grant.unit_code))
                {
                    return Err(AssignError::OutsideDevice {
                        unit: u.clone(),
                        device,
                        device_unit: grant.unit_code.clone(),
                    });
                }
                "central"
            }
        };
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        worklist::assign(
            &tx,
            device,
            source,
            mode,
            units,
            households,
            &format_utc_millis(&now),
        )
        .map_err(err)?;
        let out = worklist::assignment_of(&tx, device).map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(out)
    }

    /// Every device's assignment and how many people it covers now.
    pub fn assignments(&self) -> Result<Vec<AssignmentLine>, CentralError> {
        let conn = self.lock()?;
        worklist::assignments(&conn, &self.units).map_err(|e| CentralError::sqlite(&self.path, e))
    }

    /// What `device` downloads: its own assignment, or for a station
    /// without one, its registered unit.
    pub(crate) fn worklist_page_blocking(
        &self,
        device: Uuid,
        request: &WorklistRequest,
    ) -> Result<WorklistPage, CentralError> {
        let conn = self.lock()?;
        let err = |e| CentralError::sqlite(&self.path, e);
        let mut assignment = worklist::assignment_of(&conn, device).map_err(err)?;
        let mut station = false;
        if self.role == NodeRole::Central {
            let grants = registry::grants_in(&conn, &self.path, &[device])?;
            if let Some(g) = grants.get(&device)
                && g.role == NodeRole::Station
            {
                station = true;
                if assignment.units.is_empty() && assignment.households.is_empty() {
                    assignment.units.push(g.unit_code.clone());
                }
            }
        }
        let mut page =
            worklist::page(&conn, &self.units, self.node_id, &assignment, request).map_err(err)?;
        if station && request.after.is_none() {
            page.devices = Some(worklist::station_devices(&conn, device).map_err(err)?);
        }
        Ok(page)
    }

    /// A station: the next request of its download from central.
    pub fn worklist_upstream_request(
        &self,
        limit: Option<u32>,
    ) -> Result<WorklistRequest, CentralError> {
        let conn = self.lock()?;
        worklist::upstream_request(&conn, limit).map_err(|e| CentralError::sqlite(&self.path, e))
    }

    /// A station: applies one page of central's answer, in one transaction.
    pub fn apply_worklist_upstream(
        &self,
        request: &WorklistRequest,
        page: &WorklistPage,
        now: DateTime<Utc>,
    ) -> Result<UpstreamApplied, CentralError> {
        if self.role != NodeRole::Station {
            return Err(CentralError::Unsupported("worklists from upstream"));
        }
        let mut conn = self.lock()?;
        let err = |e| CentralError::sqlite(&self.path, e);
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let applied =
            worklist::apply_upstream(&tx, request, page, &format_utc_millis(&now)).map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(applied)
    }

    pub(crate) fn station_device_key_blocking(
        &self,
        device: Uuid,
    ) -> Result<Option<([u8; 32], bool)>, CentralError> {
        if self.role != NodeRole::Station {
            return Ok(None);
        }
        let conn = self.lock()?;
        let row: Option<(Vec<u8>, bool)> = conn
            .query_row(
                "SELECT public_key, revoked FROM station_devices WHERE device_id = ?1",
                [device.to_string()],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(|e| CentralError::sqlite(&self.path, e))?;
        Ok(row.and_then(|(key, revoked)| {
            <[u8; 32]>::try_from(key.as_slice())
                .ok()
                .map(|k| (k, revoked))
        }))
    }

    pub(crate) fn coverage_blocking(
        &self,
        under: Option<&str>,
        remaining: bool,
    ) -> Result<CoverageReport, CentralError> {
        let conn = self.lock()?;
        worklist::coverage_report(&conn, &self.units, under, remaining)
            .map_err(|e| CentralError::sqlite(&self.path, e))
    }

    /// Roster size, people remaining, people flagged and the feed's head.
    pub fn roster_counts(
        &self,
    ) -> Result<std::collections::HashMap<&'static str, u64>, CentralError> {
        let conn = self.lock()?;
        worklist::roster_counts(&conn).map_err(|e| CentralError::sqlite(&self.path, e))
    }
}
