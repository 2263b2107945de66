//! Console roles and what each may do. The README's permission matrix is
//! this table; `tests/permissions.rs` checks every endpoint against it,
//! role by role.

use serde::{Deserialize, Serialize};

/// Who someone is to the console.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// IT: runs the system.
    Administrator,
    /// Owns the filtering policy and approves changes to it.
    OnlineSafetyLead,
    /// Designated Safeguarding Lead.
    Dsl,
    DeputyDsl,
    /// Teachers and other staff: check a site, ask for an unblock.
    Staff,
    /// Reports only, no personal detail.
    Governor,
    /// Read-only: the audit log and change control.
    Auditor,
}

/// One thing the console lets someone do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    /// Counts of requests and blocks, with no names.
    ViewSummary,
    /// Search the access log and see a pupil's timeline.
    SearchLogs,
    /// Export the access log as CSV.
    ExportLogs,
    /// See how the policy would treat an address.
    CheckUrl,
    /// Ask for a temporary unblock.
    RequestUnblock,
    /// See the change-control log.
    ViewChanges,
    /// Approve or refuse an unblock.
    DecideUnblock,
    /// Read the audit log.
    ViewAudit,
    /// See users.
    ViewUsers,
    /// Add users and console accounts, disable them.
    ManageUsers,
    /// Device set-up: the PAC file and the school's CA certificate.
    ViewDeviceSetup,
    /// See the groups' policies and the illegal tier's lists.
    ViewPolicy,
    /// Create groups and change their policies.
    EditPolicy,
    /// See safeguarding alerts, with the pupil's browsing around them, and
    /// the lexicons.
    ViewAlerts,
    /// Move alerts through triage with notes; set exclusions.
    TriageAlerts,
    /// Edit the monitor's lexicons.
    EditLexicons,
}

impl Role {
    pub const ALL: [Role; 7] = [
        Role::Administrator,
        Role::OnlineSafetyLead,
        Role::Dsl,
        Role::DeputyDsl,
        Role::Staff,
        Role::Governor,
        Role::Auditor,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Administrator => "administrator",
            Role::OnlineSafetyLead => "online_safety_lead",
            Role::Dsl => "dsl",
            Role::DeputyDsl => "deputy_dsl",
            Role::Staff => "staff",
            Role::Governor => "governor",
            Role::Auditor => "auditor",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// For people.
    pub fn title(self) -> &'static str {
        match self {
            Role::Administrator => "Administrator (IT)",
            Role::OnlineSafetyLead => "Online Safety Lead",
            Role::Dsl => "Designated Safeguarding Lead",
            Role::DeputyDsl => "Deputy DSL",
            Role::Staff => "Staff",
            Role::Governor => "Governor",
            Role::Auditor => "Auditor",
        }
    }

    /// Roles that see pupils' activity or change the policy sign in with
    /// a second factor; the console makes them enrol before anything else.
    pub fn needs_second_factor(self) -> bool {
        matches!(
            self,
            Role::Administrator | Role::OnlineSafetyLead | Role::Dsl | Role::DeputyDsl
        )
    }

    pub fn can(self, permission: Permission) -> bool {
        use Permission::*;
        use Role::*;
        match permission {
            ViewSummary => true,
            SearchLogs | ExportLogs => {
                matches!(self, Administrator | OnlineSafetyLead | Dsl | DeputyDsl)
            }
            CheckUrl => matches!(
                self,
                Administrator | OnlineSafetyLead | Dsl | DeputyDsl | Staff
            ),
            RequestUnblock => matches!(
                self,
                Administrator | OnlineSafetyLead | Dsl | DeputyDsl | Staff
            ),
            ViewChanges => matches!(
                self,
                Administrator | OnlineSafetyLead | Dsl | DeputyDsl | Staff | Auditor
            ),
            DecideUnblock => matches!(self, Administrator | OnlineSafetyLead),
            ViewAudit => matches!(self, Administrator | OnlineSafetyLead | Auditor),
            ViewUsers => matches!(self, Administrator | OnlineSafetyLead | Dsl | DeputyDsl),
            ManageUsers => matches!(self, Administrator),
            ViewDeviceSetup => matches!(self, Administrator | OnlineSafetyLead | Staff),
            ViewPolicy => matches!(
                self,
                Administrator | OnlineSafetyLead | Dsl | DeputyDsl | Auditor
            ),
            EditPolicy => matches!(self, Administrator | OnlineSafetyLead),
            // Alerts name pupils and what they did: safeguarding staff only.
            ViewAlerts | TriageAlerts => matches!(self, Dsl | DeputyDsl),
            EditLexicons => matches!(self, Dsl),
        }
    }
}

impl Permission {
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::ViewSummary => "view_summary",
            Permission::SearchLogs => "search_logs",
            Permission::ExportLogs => "export_logs",
            Permission::CheckUrl => "check_url",
            Permission::RequestUnblock => "request_unblock",
            Permission::ViewChanges => "view_changes",
            Permission::DecideUnblock => "decide_unblock",
            Permission::ViewAudit => "view_audit",
            Permission::ViewUsers => "view_users",
            Permission::ManageUsers => "manage_users",
            Permission::ViewDeviceSetup => "view_device_setup",
            Permission::ViewPolicy => "view_policy",
            Permission::EditPolicy => "edit_policy",
            Permission::ViewAlerts => "view_alerts",
            Permission::TriageAlerts => "triage_alerts",
            Permission::EditLexicons => "edit_lexicons",
        }
    }

    pub const ALL: [Permission; 16] = [
        Permission::ViewSummary,
        Permission::SearchLogs,
        Permission::ExportLogs,
        Permission::CheckUrl,
        Permission::RequestUnblock,
        Permission::ViewChanges,
        Permission::DecideUnblock,
        Permission::ViewAudit,
        Permission::ViewUsers,
        Permission::ManageUsers,
        Permission::ViewDeviceSetup,
        Permission::ViewPolicy,
        Permission::EditPolicy,
        Permission::ViewAlerts,
        Permission::TriageAlerts,
        Permission::EditLexicons,
    ];
}
