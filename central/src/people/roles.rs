//! Roles and permissions: the one matrix of who may do what in central.
//!
//! A [`Permission`] names one kind of act (`work_orders.release`, `lots.hold`, ...); a
//! [`Role`] is a set of permissions; a user's permissions are the union of their roles'. Every
//! route declares the permission it needs where it is registered ([`crate::api::policy`]), and
//! record rules (plants) narrow what a permitted user sees to their plants.
//!
//! This module is the only place the matrix is written. `docs/ROLES.md` is generated from it
//! ([`matrix_markdown`]; a test fails when the file differs, `mes roles > docs/ROLES.md`
//! rewrites it).
//!
//! Pure: no I/O.

use serde::{Deserialize, Serialize};

macro_rules! permissions {
    ($($variant:ident = $name:literal : $what:literal,)+) => {
        /// One kind of act in central. Its name (`work_orders.release`) is what the API, the
        /// docs and 403 replies say.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u8)]
        pub enum Permission { $($variant,)+ }

        impl Permission {
            /// Every permission, in the order of the matrix.
            pub const ALL: &'static [Permission] = &[$(Permission::$variant,)+];

            pub fn name(self) -> &'static str {
                match self { $(Permission::$variant => $name,)+ }
            }

            /// What the permission lets one do, for the docs and the roles page.
            pub fn describe(self) -> &'static str {
                match self { $(Permission::$variant => $what,)+ }
            }

            pub fn parse(name: &str) -> Option<Permission> {
                match name { $($name => Some(Permission::$variant),)+ _ => None }
            }
        }
    };
}

permissions! {
    EdgeSync = "edge.sync": "send events, fetch plans and report status as an edge (edge credentials only)",
    EdgesRead = "edges.read": "see edges, their health, stations, events and quarantine",
    EdgesManage = "edges.manage": "create edges, rotate and revoke their tokens, publish raw plans",
    MasterDataRead = "master_data.read": "see items, BOMs, routings, suppliers, warehouses, lines, work centers, the calendar",
    MasterDataWrite = "master_data.write": "change items, BOMs, routings, suppliers, warehouses, lines, work centers, the calendar; import them",
    WorkOrdersRead = "work_orders.read": "see work orders, their progress and lot holds",
    WorkOrdersWrite = "work_orders.write": "create work orders and change quantity, priority and due date",
    WorkOrdersRelease = "work_orders.release": "release, hold and unhold work orders (sends them to the lines)",
    WorkOrdersClose = "work_orders.close": "cancel and close work orders",
    LotsHold = "lots.hold": "put lots on quality hold, release them, set their expiry",
    InventoryRead = "inventory.read": "see stock, the ledger and genealogy",
    InventoryWrite = "inventory.write": "import inventory counts and receipts",
    InventoryReverse = "inventory.reverse": "reverse a ledger entry",
    MrpRead = "mrp.read": "see MRP runs and their requisitions, and purchase orders",
    MrpRun = "mrp.run": "run MRP and import demands",
    MrpFirm = "mrp.firm": "firm planned orders into work orders, and buy purchase requisitions (through their approval)",
    OperatorsRead = "operators.read": "see the operator registry",
    OperatorsManage = "operators.manage": "change the operator registry (badges, skills, PINs)",
    PlantsRead = "plants.read": "see plants and their rules for the floor",
    PlantsManage = "plants.manage": "create plants and change their rules",
    FloorRead = "floor.read": "see the plant board, OEE, downtime, shifts and stop reasons, SPC charts and alarms",
    FloorManage = "floor.manage": "change plants' shift calendars and stop reasons and SPC characteristics; acknowledge SPC alarms; rebuild the floor's figures from the events",
    UsersRead = "users.read": "see users, their roles and plants",
    UsersManage = "users.manage": "create, change, disable users, reset passwords, import users",
    AuditRead = "audit.read": "read and export the audit trail",
    KiosksManage = "kiosks.manage": "mint, list and revoke kiosk links: a shop-floor TV that opens one shows its plant's andon, signed in without a password",
    CrmRead = "crm.read": "see customers, contacts, activities, deals, quotations and sales orders: one's own, and one's team's for a manager; see price lists",
    CrmAllRead = "crm.all.read": "see every salesperson's customers, contacts, deals, quotations and sales orders (head office, planning)",
    CrmWrite = "crm.write": "create and change the customers, contacts, activities, deals, quotations and sales orders one may see as one's own or one's team's; import business cards",
    PricesManage = "prices.manage": "change price lists, exchange rates and tax rates",
    OfficeTasks = "office.tasks": "see and do the administration office's tasks (book approved trips)",
    RosterRead = "roster.read": "see who is away on which days (approved trips and leave); everyone sees their own",
}

/// A set of permissions as bits (there are fewer than 64).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Permissions(u64);

const _: () = assert!(Permission::ALL.len() <= 64);

impl Permissions {
    pub const NONE: Permissions = Permissions(0);

    pub fn of(list: &[Permission]) -> Permissions {
        list.iter().fold(Permissions::NONE, |set, p| set.with(*p))
    }

    pub fn all() -> Permissions {
        Permissions::of(Permission::ALL)
    }

    #[must_use]
    pub fn with(self, p: Permission) -> Permissions {
        Permissions(self.0 | (1 << p as u8))
    }

    pub fn contains(self, p: Permission) -> bool {
        self.0 & (1 << p as u8) != 0
    }

    #[must_use]
    pub fn union(self, other: Permissions) -> Permissions {
        Permissions(self.0 | other.0)
    }

    #[must_use]
    pub fn intersect(self, other: Permissions) -> Permissions {
        Permissions(self.0 & other.0)
    }

    pub fn is_subset_of(self, other: Permissions) -> bool {
        self.0 & !other.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = Permission> {
        Permission::ALL
            .iter()
            .copied()
            .filter(move |p| self.contains(*p))
    }

    pub fn names(self) -> Vec<&'static str> {
        self.iter().map(Permission::name).collect()
    }

    /// Only the permissions that read.
    #[must_use]
    pub fn read_only(self) -> Permissions {
        Permissions::of(
            &self
                .iter()
                .filter(|p| p.is_read())
                .collect::<Vec<Permission>>(),
        )
    }
}

impl Permission {
    /// A permission that changes nothing.
    pub fn is_read(self) -> bool {
        self.name().ends_with(".read")
    }
}

impl Serialize for Permission {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Permission {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        Permission::parse(&name).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "unknown permission {name:?}; expected one of {}",
                Permission::ALL
                    .iter()
                    .map(|p| p.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })
    }
}

/// Who someone is in the company, as central knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Administrator,
    PlantManager,
    Supervisor,
    Planner,
    Quality,
    Warehouse,
    Sales,
    SalesManager,
    Approver,
    /// The administration office: books approved trips.
    Office,
    /// Head office: reads every plant, changes nothing.
    Viewer,
    /// A shop-floor TV (the andon board): sees its plants' floor, nothing else, changes nothing.
    Kiosk,
    /// An edge gateway: its own credential, nothing but the sync routes.
    Edge,
}

impl Role {
    pub const ALL: &'static [Role] = &[
        Role::Administrator,
        Role::PlantManager,
        Role::Supervisor,
        Role::Planner,
        Role::Quality,
        Role::Warehouse,
        Role::Sales,
        Role::SalesManager,
        Role::Approver,
        Role::Office,
        Role::Viewer,
        Role::Kiosk,
        Role::Edge,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Role::Administrator => "administrator",
            Role::PlantManager => "plant_manager",
            Role::Supervisor => "supervisor",
            Role::Planner => "planner",
            Role::Quality => "quality",
            Role::Warehouse => "warehouse",
            Role::Sales => "sales",
            Role::SalesManager => "sales_manager",
            Role::Approver => "approver",
            Role::Office => "office",
            Role::Viewer => "viewer",
            Role::Kiosk => "kiosk",
            Role::Edge => "edge",
        }
    }

    pub fn parse(name: &str) -> Option<Role> {
        Role::ALL.iter().copied().find(|r| r.name() == name)
    }

    /// Roles a user may hold (the edge role belongs to edge credentials only).
    pub fn for_people() -> impl Iterator<Item = Role> {
        Role::ALL.iter().copied().filter(|r| *r != Role::Edge)
    }

    /// A role whose holders see every plant, whatever plants they belong to: the
    /// administrator (and changes everywhere) and head office's viewer (reads only).
    pub fn company_wide(self) -> bool {
        matches!(self, Role::Administrator | Role::Viewer)
    }

    /// What the role may do: the matrix.
    pub fn permissions(self) -> Permissions {
        use Permission::*;
        // Everyone who works in central reads the shared master data, the work orders and
        // stock; the roles differ in what they change.
        const READS: &[Permission] = &[
            MasterDataRead,
            WorkOrdersRead,
            InventoryRead,
            PlantsRead,
            OperatorsRead,
            FloorRead,
        ];
        let reads = Permissions::of(READS);
        match self {
            Role::Administrator => Permissions::of(
                &Permission::ALL
                    .iter()
                    .copied()
                    .filter(|p| *p != EdgeSync)
                    .collect::<Vec<_>>(),
            ),
            Role::PlantManager => reads.union(Permissions::of(&[
                CrmRead,
                CrmAllRead,
                EdgesRead,
                EdgesManage,
                MasterDataWrite,
                WorkOrdersWrite,
                WorkOrdersRelease,
                WorkOrdersClose,
                LotsHold,
                InventoryWrite,
                InventoryReverse,
                MrpRead,
                MrpRun,
                MrpFirm,
                OperatorsManage,
                PlantsManage,
                FloorManage,
                UsersRead,
                AuditRead,
                KiosksManage,
                RosterRead,
            ])),
            Role::Supervisor => reads.union(Permissions::of(&[
                EdgesRead,
                WorkOrdersRelease,
                WorkOrdersClose,
                LotsHold,
                MrpRead,
                OperatorsManage,
                FloorManage,
                KiosksManage,
                RosterRead,
            ])),
            Role::Planner => reads.union(Permissions::of(&[
                CrmRead,
                CrmAllRead,
                EdgesRead,
                MasterDataWrite,
                WorkOrdersWrite,
                WorkOrdersRelease,
                MrpRead,
                MrpRun,
                MrpFirm,
                RosterRead,
            ])),
            Role::Quality => reads.union(Permissions::of(&[EdgesRead, LotsHold])),
            Role::Warehouse => reads.union(Permissions::of(&[InventoryWrite, InventoryReverse])),
            Role::Sales => reads.union(Permissions::of(&[CrmRead, CrmWrite])),
            Role::Approver => reads,
            Role::Office => reads.union(Permissions::of(&[OfficeTasks, RosterRead, UsersRead])),
            // A sales manager sees and changes their team's records (the users whose manager
            // they are, and theirs), and sets prices.
            Role::SalesManager => reads.union(Permissions::of(&[
                MrpRead,
                UsersRead,
                CrmRead,
                CrmWrite,
                PricesManage,
            ])),
            Role::Viewer => Permissions::all().read_only(),
            Role::Kiosk => Permissions::of(&[FloorRead]),
            Role::Edge => Permissions::of(&[EdgeSync]),
        }
    }

    /// The union of the roles' permissions.
    pub fn union_of(roles: &[Role]) -> Permissions {
        roles
            .iter()
            .fold(Permissions::NONE, |set, r| set.union(r.permissions()))
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::fmt::Display for Permission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The matrix as the Markdown table of `docs/ROLES.md`.
pub fn matrix_markdown() -> String {
    let mut out = String::from(
        "# Roles and permissions\n\n\
         Generated from `central/src/people/roles.rs` by `mes roles`; do not edit by hand (a test\n\
         compares this file with the code). A user's permissions are the union of their roles'.\n\
         Administrators and viewers see every plant; everyone else sees and changes only the\n\
         records of their own plants. Which route needs which permission is in the OpenAPI\n\
         document (`x-permission` on every operation) and in `docs/ENTRY_POINTS.md`.\n\n",
    );
    out.push_str("| permission | what it allows |");
    for role in Role::ALL {
        out.push_str(&format!(" {} |", role.name()));
    }
    out.push_str("\n| --- | --- |");
    for _ in Role::ALL {
        out.push_str(" :-: |");
    }
    out.push('\n');
    for p in Permission::ALL {
        out.push_str(&format!("| `{}` | {} |", p.name(), p.describe()));
        for role in Role::ALL {
            out.push_str(if role.permissions().contains(*p) {
                " ✓ |"
            } else {
                "   |"
            });
        }
        out.push('\n');
    }
    out.push_str("\n| role | sees |\n| --- | --- |\n");
    for role in Role::ALL {
        let sees = match role {
            Role::Edge => "its own lines' plans",
            r if r.company_wide() => "every plant",
            _ => "the user's plants",
        };
        out.push_str(&format!("| {} | {} |\n", role.name(), sees));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for p in Permission::ALL {
            assert_eq!(Permission::parse(p.name()), Some(*p));
            assert!(seen.insert(p.name()), "{p} twice");
            assert!(p.name().contains('.'), "{p}: domain.act");
        }
        for r in Role::ALL {
            assert_eq!(Role::parse(r.name()), Some(*r));
        }
        assert_eq!(Permission::parse("lots.delete"), None);
    }

    #[test]
    fn the_matrix_holds_its_promises() {
        // The viewer (head office) changes nothing; the administrator does everything a
        // person may; no person's role can act as an edge.
        assert!(Role::Viewer.permissions().iter().all(Permission::is_read));
        assert!(Role::Viewer.permissions().contains(Permission::AuditRead));
        for r in Role::for_people() {
            assert!(!r.permissions().contains(Permission::EdgeSync), "{r}");
            assert!(
                r.permissions()
                    .is_subset_of(Role::Administrator.permissions())
            );
        }
        assert_eq!(
            Role::Edge.permissions(),
            Permissions::of(&[Permission::EdgeSync])
        );
        let sup = Role::Supervisor.permissions();
        assert!(sup.contains(Permission::WorkOrdersRelease));
        assert!(sup.contains(Permission::LotsHold));
        assert!(!sup.contains(Permission::UsersManage));
        assert!(!sup.contains(Permission::InventoryReverse));
        assert!(!sup.contains(Permission::MasterDataWrite));
        assert!(
            Role::Warehouse
                .permissions()
                .contains(Permission::InventoryReverse)
        );
        assert!(Role::Planner.permissions().contains(Permission::MrpRun));
        assert!(
            !Role::Sales
                .permissions()
                .contains(Permission::WorkOrdersWrite)
        );
        let both = Role::union_of(&[Role::Quality, Role::Warehouse]);
        assert!(both.contains(Permission::LotsHold) && both.contains(Permission::InventoryReverse));
    }

    #[test]
    fn docs_roles_md_is_generated_from_the_matrix() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/ROLES.md");
        let on_disk = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            on_disk == matrix_markdown(),
            "docs/ROLES.md is not what the matrix says; run `cargo run -- roles > docs/ROLES.md`"
        );
    }
}
