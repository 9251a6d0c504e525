//! Worklists at central and at stations (`proto/worklist-v1.md`): the
//! errors people can cause when loading a roster or assigning devices.
//! The storage lives in `sqlite/worklist.rs`; the rules in
//! `doorstep_core::worklist`.

use uuid::Uuid;

use crate::error::CentralError;

/// Why an assignment was refused.
#[derive(Debug, thiserror::Error)]
pub enum AssignError {
    #[error(
        "device {0} is not registered here: provision it first (doorstep central provision), or on a station wait until the station has synced with central"
    )]
    UnknownDevice(Uuid),

    #[error("device {0} was revoked: it receives no worklist")]
    Revoked(Uuid),

    #[error("unit `{0}` is not in this server's unit list")]
    UnknownUnit(String),

    #[error(
        "unit `{unit}` is outside what central assigned this station ({allowed}): a station sub-assigns within its own units"
    )]
    OutsideStation { unit: String, allowed: String },

    #[error(
        "unit `{unit}` is outside the unit device {device} was provisioned for ({device_unit}): its records there would be refused"
    )]
    OutsideDevice {
        unit: String,
        device: Uuid,
        device_unit: String,
    },

    #[error(
        "this station has not received its worklist from central yet: run `doorstep station serve` until it has synced, then assign"
    )]
    StationNotSynced,

    #[error("nothing to assign: give --units and/or --households")]
    Empty,

    #[error(transparent)]
    Store(#[from] CentralError),
}

impl AssignError {
    /// A mistake of the person assigning (exit code 2), not of the store.
    pub fn is_user_error(&self) -> bool {
        !matches!(self, AssignError::Store(_))
    }

    /// The message in Vietnamese, for officers.
    pub fn message_vi(&self) -> String {
        match self {
            AssignError::UnknownDevice(d) => format!(
                "thiết bị {d} chưa được đăng ký ở đây: hãy cấp mã (doorstep central provision), hoặc trên trạm chờ trạm đồng bộ với trung tâm"
            ),
            AssignError::Revoked(d) => {
                format!("thiết bị {d} đã bị thu hồi: không nhận danh sách công việc")
            }
            AssignError::UnknownUnit(u) => {
                format!("đơn vị `{u}` không có trong danh sách đơn vị của máy chủ này")
            }
            AssignError::OutsideStation { unit, allowed } => format!(
                "đơn vị `{unit}` nằm ngoài phạm vi trung tâm giao cho trạm ({allowed}): trạm chỉ giao việc trong phạm vi của mình"
            ),
            AssignError::OutsideDevice {
                unit,
                device,
                device_unit,
            } => format!(
                "đơn vị `{unit}` nằm ngoài đơn vị {device_unit} mà thiết bị {device} được cấp: hồ sơ thiết bị làm ở đó sẽ bị từ chối"
            ),
            AssignError::StationNotSynced => "trạm chưa nhận danh sách công việc từ trung tâm: chạy `doorstep station serve` cho đến khi đồng bộ xong rồi giao việc".to_owned(),
            AssignError::Empty => "chưa có gì để giao: hãy nêu --units và/hoặc --households".to_owned(),
            AssignError::Store(e) => e.to_string(),
        }
    }
}
