// Vietnamese (default) and English strings, and the labels of the server's
// enumerations (from GET /api/form, which carries both languages).

const vi = {
  'app.tagline': 'Thu nhận hồ sơ lưu động',
  'nav.label': 'Màn hình chính',
  'nav.enroll': 'Thu nhận',
  'nav.queue': 'Hàng đợi',
  'nav.sync': 'Đồng bộ',
  'nav.worklist': 'Danh sách',
  'nav.summary': 'Tổng kết ngày',
  'lang.switch': 'English',
  'lang.switch.label': 'Chuyển sang tiếng Anh',
  'header.lock': 'Khóa máy',
  'conn.online': 'Có kết nối',
  'conn.offline': 'Mất kết nối',
  'conn.unknown': 'Chưa rõ kết nối',
  'clock.ahead': 'Đồng hồ máy nhanh {n} phút so với máy chủ: hãy chỉnh ngày giờ của máy',
  'clock.behind': 'Đồng hồ máy chậm {n} phút so với máy chủ: hãy chỉnh ngày giờ của máy',
  'skip': 'Bỏ qua, đến nội dung chính',

  'unlock.title': 'Mở khóa',
  'unlock.intro.set': 'Nhập mật khẩu của máy để làm việc.',
  'unlock.intro.new': 'Máy chưa có mật khẩu. Đặt mật khẩu (ít nhất 8 ký tự) và nhập lại để xác nhận.',
  'unlock.passphrase': 'Mật khẩu',
  'unlock.confirm': 'Nhập lại mật khẩu',
  'unlock.officer': 'Mã cán bộ',
  'unlock.officer.hint': 'Ví dụ: CA-74-0012. Mã này được ghi vào mọi hồ sơ.',
  'unlock.button': 'Mở khóa',
  'unlock.err.officer': 'Mã cán bộ gồm 1–32 ký tự: chữ cái không dấu, chữ số, “-”, “_” hoặc “.”.',
  'unlock.err.mismatch': 'Hai lần nhập mật khẩu không khớp.',
  'unlock.err.short': 'Mật khẩu cần ít nhất 8 ký tự.',
  'unlock.err.empty': 'Hãy nhập mật khẩu.',
  'unlock.kept': 'Dữ liệu đang nhập dở vẫn được giữ và sẽ hiện lại sau khi mở khóa.',
  'lock.idle': 'Máy đã tự khóa vì lâu không sử dụng.',
  'lock.done': 'Đã khóa máy.',

  'enroll.title': 'Thu nhận hồ sơ',
  'field.kind': 'Loại hồ sơ',
  'section.citizen': 'Công dân',
  'field.personal_id': 'Số định danh cá nhân',
  'field.full_name': 'Họ và tên',
  'field.date_of_birth': 'Ngày sinh',
  'field.sex': 'Giới tính',
  'field.phone': 'Số điện thoại di động',
  'section.permanent': 'Nơi thường trú',
  'section.current': 'Nơi ở hiện tại (nếu khác nơi thường trú)',
  'field.unit': 'Xã, phường (đơn vị hành chính)',
  'field.detail': 'Số nhà, đường, tổ, khu phố, ấp',
  'section.visit': 'Lần tiếp xúc',
  'field.visit.place': 'Nơi thu nhận',
  'field.visit.reason': 'Lý do thu nhận lưu động',
  'field.visit.unit': 'Đơn vị nơi thu nhận',
  'field.visit.at': 'Thời gian (giờ Việt Nam)',
  'section.kind': 'Thông tin riêng của loại hồ sơ',
  'field.eid_level': 'Mức tài khoản định danh điện tử',
  'eid_level.1': 'Mức 1',
  'eid_level.2': 'Mức 2',
  'field.under_14': 'Đề nghị cấp căn cước cho người dưới 14 tuổi',
  'field.driver_license': 'Số giấy phép lái xe (12 chữ số)',
  'field.correction.fields': 'Thông tin bị sai',
  'field.correction.note': 'Ghi chú về việc điều chỉnh',
  'section.attachments': 'Ảnh và giấy tờ',
  'att.face': 'Ảnh chân dung',
  'att.document': 'Giấy tờ (tối đa 5)',
  'att.fingerprints': 'Vân tay',
  'att.file': 'Chọn tệp hoặc chụp ảnh',
  'att.camera': 'Chụp bằng camera',
  'att.remove': 'Xóa',
  'att.required': '(bắt buộc)',
  'att.exemption': 'Miễn lấy vân tay ngón này',
  'att.exemption.none': 'Không miễn',
  'att.kept': 'của hồ sơ cũ',
  'att.unreadable': 'Không đọc được tệp {name}.',
  'att.too_many': 'Chỉ được kèm tối đa 5 giấy tờ.',
  'select.choose': '— Chọn —',
  'select.none': '— Không —',
  'enroll.officer': 'Cán bộ thu nhận: {id}',
  'enroll.officer.missing': 'Chưa có mã cán bộ: hãy khóa máy rồi mở khóa để nhập mã cán bộ.',
  'enroll.submit': 'Lưu hồ sơ',
  'enroll.saving': 'Đang lưu…',
  'enroll.stored': 'Đã lưu hồ sơ {id}. Hồ sơ sẽ tự gửi đi khi có kết nối.',
  'enroll.already': 'Hồ sơ này đã được lưu trước đó: {id}.',
  'enroll.invalid': 'Hồ sơ chưa hợp lệ ({n} lỗi): xem thông báo bên cạnh từng ô.',
  'enroll.refused': 'Hồ sơ không được lưu ({n} lỗi).',
  'enroll.view': 'Xem hồ sơ',
  'enroll.correcting': 'Đang sửa hồ sơ bị từ chối {id} ({name}). Hồ sơ mới sẽ thay thế hồ sơ này.',
  'enroll.correcting.reason': 'Lý do từ chối: {reason}',
  'enroll.from': 'Thu nhận cho người trong danh sách: {name}',
  'enroll.person.notfound': 'Không tìm thấy người có số định danh {id} trong danh sách.',
  'enroll.record.notfound': 'Không tìm thấy hồ sơ {id}.',
  'enroll.record.purged': 'Dữ liệu công dân của hồ sơ này đã được xóa sau khi xác nhận, không sửa được.',
  'enroll.record.corrected': 'Hồ sơ {id} đã được sửa bằng hồ sơ {by}: không cần sửa lại.',

  'camera.title': 'Chụp ảnh',
  'camera.capture': 'Chụp',
  'camera.cancel': 'Hủy',
  'camera.starting': 'Đang mở camera…',
  'camera.error': 'Không mở được camera ({msg}). Hãy dùng nút chọn tệp.',

  'unit.placeholder': 'Gõ tên xã, phường (không cần dấu)',
  'unit.none': 'Không tìm thấy đơn vị nào',
  'unit.options': 'Các đơn vị phù hợp',

  'queue.title': 'Hàng đợi hồ sơ',
  'queue.search': 'Tìm theo tên (không cần dấu) hoặc số định danh',
  'queue.status': 'Trạng thái',
  'queue.status.all': 'Mọi trạng thái',
  'queue.empty': 'Không có hồ sơ nào.',
  'queue.count': '{n} hồ sơ',
  'queue.corrected': 'Đã có hồ sơ sửa',
  'status.pending': 'Chờ gửi',
  'status.held': 'Trạm đang giữ',
  'status.confirmed': 'Đã xác nhận',
  'status.rejected': 'Bị từ chối',
  'status.incomplete': 'Chờ gửi ảnh',

  'record.title': 'Hồ sơ',
  'record.back': '← Về hàng đợi',
  'record.id': 'Mã hồ sơ',
  'record.status': 'Trạng thái',
  'record.kind': 'Loại hồ sơ',
  'record.reason': 'Lý do từ chối',
  'record.advice': 'Cách xử lý',
  'record.correct': 'Sửa và lưu hồ sơ mới',
  'record.superseded_by': 'Đã được thay bằng hồ sơ',
  'record.supersedes': 'Sửa cho hồ sơ',
  'record.enrolled_at': 'Lưu lúc',
  'record.status_at': 'Cập nhật trạng thái lúc',
  'record.held_by': 'Trạm đang giữ',
  'record.last_error': 'Lỗi gửi gần nhất',
  'record.attempts': 'Số lần gửi',
  'record.officer': 'Cán bộ thu nhận',
  'record.purged': 'Dữ liệu công dân của hồ sơ này đã được xóa sau khi xác nhận.',
  'record.attachments': 'Ảnh và giấy tờ',
  'record.none': 'Không có',
  'record.current_address': 'Nơi ở hiện tại',
  'record.permanent_address': 'Nơi thường trú',
  'yes': 'Có',
  'no': 'Không',

  'sync.title': 'Đồng bộ',
  'sync.connection': 'Kết nối',
  'sync.conn.online': 'Liên lạc được với máy chủ',
  'sync.conn.offline': 'Không liên lạc được với máy chủ',
  'sync.conn.nonet': 'Máy không có mạng',
  'sync.conn.unknown': 'Chưa kiểm tra kết nối',
  'sync.server': 'Máy chủ: {server}',
  'sync.outbox': 'Hồ sơ chờ gửi: {n}',
  'sync.now': 'Đồng bộ ngay',
  'sync.running': 'Đang đồng bộ…',
  'sync.phase.sending': 'Đang gửi hồ sơ: {sent}/{outbox}',
  'sync.phase.worklist': 'Đang tải danh sách cần tiếp xúc…',
  'sync.result': 'Lần đồng bộ gần nhất',
  'sync.result.none': 'Chưa đồng bộ lần nào kể từ khi mở chương trình.',
  'sync.result.ok': 'Xong: đã gửi {sent} hồ sơ; xác nhận {confirmed}, trạm giữ {held}, bị từ chối {rejected}; còn chờ gửi {after}.',
  'sync.result.error': 'Không thành công: {error}',
  'sync.hint.nonet': 'Máy không có mạng. Bật 4G hoặc Wi-Fi rồi thử lại; hồ sơ vẫn được giữ an toàn trên máy.',
  'sync.hint.unreachable': 'Không liên lạc được với máy chủ. Thử lại sau; hồ sơ vẫn được giữ an toàn trên máy. Nếu lâu không có mạng, hãy xuất tệp để chuyển bằng USB.',
  'sync.hint.clock': 'Đồng hồ của máy bị lệch: hãy chỉnh ngày giờ của máy rồi đồng bộ lại.',
  'sync.hint.revoked': 'Máy này đã bị thu hồi: liên hệ cán bộ phụ trách. Hồ sơ vẫn được giữ trên máy.',
  'sync.hint.generic': 'Thử lại sau ít phút. Nếu vẫn lỗi, báo cán bộ phụ trách kỹ thuật.',
  'sync.rejected': 'Có hồ sơ bị từ chối: xem trong hàng đợi để sửa.',
  'sync.last_success': 'Lần đồng bộ thành công gần nhất: {at}',
  'sync.never': 'Chưa đồng bộ thành công lần nào.',
  'sync.worklist': 'Danh sách cần tiếp xúc',
  'sync.worklist.people': '{n} người trong danh sách',
  'sync.worklist.last': 'tải lần cuối lúc {at}',
  'sync.worklist.none': 'Chưa tải danh sách lần nào.',
  'sync.worklist.error': 'Lỗi tải danh sách: {error}',
  'sync.worklist.skipped': 'Không tải danh sách: {why}',
  'sync.export': 'Xuất tệp chuyển bằng USB',
  'sync.export.help': 'Khi lâu không có mạng: xuất các hồ sơ chờ gửi ra một tệp, chép vào USB và nộp tại trạm. Hồ sơ vẫn nằm trong hàng đợi cho đến khi máy đồng bộ được.',
  'sync.export.empty': 'Không có hồ sơ nào chờ gửi: không cần xuất tệp.',
  'sync.export.done': 'Đã xuất tệp {name}.',

  'worklist.title': 'Danh sách cần tiếp xúc',
  'worklist.unit': 'Đơn vị',
  'worklist.unit.all': 'Tất cả đơn vị',
  'worklist.need': 'Việc cần làm',
  'worklist.need.all': 'Mọi việc',
  'worklist.hamlet': 'Khu phố, ấp',
  'worklist.hamlet.all': 'Tất cả',
  'worklist.search': 'Tìm tên hoặc số định danh',
  'worklist.include_reached': 'Hiện cả người đã xong ở máy này',
  'worklist.empty': 'Không có ai phù hợp trong danh sách.',
  'worklist.count': '{n} người',
  'worklist.household': 'Hộ {h}',
  'worklist.address': 'Địa chỉ',
  'worklist.born': 'Sinh ngày {d}',
  'worklist.needs': 'Còn cần',
  'worklist.needs.none': 'không còn việc',
  'worklist.reason': 'Lý do',
  'worklist.referred_from': 'Chuyển đến từ {unit}',
  'worklist.visits': 'Đã ghi ở máy này',
  'worklist.visits.none': 'Chưa ghi nhận lần nào ở máy này.',
  'worklist.reached': 'Đã xong ở máy này',
  'worklist.review': 'Cần xem lại',
  'worklist.enroll': 'Thu nhận',
  'worklist.outcomes': 'Kết quả tiếp xúc',
  'worklist.recorded': 'Đã ghi “{outcome}” cho {name}.',
  'worklist.officer.missing': 'Chưa có mã cán bộ: hãy khóa máy rồi mở khóa để nhập.',
  'need.card': 'cấp căn cước',
  'need.eid_registration': 'đăng ký định danh điện tử',
  'need.eid_activation': 'kích hoạt định danh điện tử',
  'reason.not_visited': 'chưa tiếp xúc',
  'reason.not_home': 'vắng nhà',
  'reason.cannot_travel': 'không thể di chuyển',
  'reason.refused': 'từ chối',
  'reason.moved': 'đã chuyển đi',
  'reason.partly_enrolled': 'mới làm một phần',
  'reason.review': 'cần xem lại (kết quả mâu thuẫn)',
  'outcome.unit': 'Đơn vị nơi ở mới (nếu biết)',
  'outcome.unit.required': 'Đơn vị nơi đang sinh sống (bắt buộc)',
  'outcome.detail': 'Địa chỉ mới (số nhà, đường)',
  'outcome.note': 'Ghi chú',
  'outcome.confirm': 'Ghi nhận',
  'outcome.cancel': 'Hủy',

  'summary.title': 'Tổng kết ngày',
  'summary.date': 'Ngày',
  'summary.total': 'Tổng số hồ sơ trong ngày: {n}',
  'summary.by_kind': 'Theo loại hồ sơ',
  'summary.by_place': 'Theo nơi thu nhận',
  'summary.by_status': 'Theo trạng thái',
  'summary.outcomes': 'Kết quả tiếp xúc',
  'summary.col.what': 'Mục',
  'summary.col.count': 'Số lượng',
  'summary.empty': 'Không có',
  'summary.blocking': 'Việc còn vướng trước khi hồ sơ được xác nhận',
  'summary.blocking.none': 'Không còn gì vướng.',

  'kind.visit_outcome': 'kết quả tiếp xúc',
  'error.network': 'Không gọi được chương trình trên máy (doorstep field serve có đang chạy không?).',
  'error.generic': 'Có lỗi: {msg}',
  'loading': 'Đang tải…',
};

const en = {
  'app.tagline': 'Mobile enrollment',
  'nav.label': 'Main screens',
  'nav.enroll': 'Enroll',
  'nav.queue': 'Queue',
  'nav.sync': 'Sync',
  'nav.worklist': 'Worklist',
  'nav.summary': 'End of day',
  'lang.switch': 'Tiếng Việt',
  'lang.switch.label': 'Switch to Vietnamese',
  'header.lock': 'Lock',
  'conn.online': 'Online',
  'conn.offline': 'Offline',
  'conn.unknown': 'Connection unknown',
  'clock.ahead': 'The laptop’s clock is {n} min ahead of the server: set the laptop’s date and time',
  'clock.behind': 'The laptop’s clock is {n} min behind the server: set the laptop’s date and time',
  'skip': 'Skip to the main content',

  'unlock.title': 'Unlock',
  'unlock.intro.set': 'Enter the laptop’s passphrase to start.',
  'unlock.intro.new': 'This laptop has no passphrase yet. Choose one (at least 8 characters) and type it again.',
  'unlock.passphrase': 'Passphrase',
  'unlock.confirm': 'Passphrase again',
  'unlock.officer': 'Officer ID',
  'unlock.officer.hint': 'For example CA-74-0012. It is written into every record.',
  'unlock.button': 'Unlock',
  'unlock.err.officer': 'The officer ID is 1–32 characters: letters without accents, digits, “-”, “_” or “.”.',
  'unlock.err.mismatch': 'The two passphrases differ.',
  'unlock.err.short': 'The passphrase needs at least 8 characters.',
  'unlock.err.empty': 'Enter the passphrase.',
  'unlock.kept': 'What you were typing is kept and comes back after unlocking.',
  'lock.idle': 'Locked after a while without use.',
  'lock.done': 'Locked.',

  'enroll.title': 'Enrollment',
  'field.kind': 'Record kind',
  'section.citizen': 'Citizen',
  'field.personal_id': 'Personal ID number',
  'field.full_name': 'Full name',
  'field.date_of_birth': 'Date of birth',
  'field.sex': 'Sex',
  'field.phone': 'Mobile phone',
  'section.permanent': 'Permanent address',
  'section.current': 'Current address (if not the permanent one)',
  'field.unit': 'Commune or ward',
  'field.detail': 'House, street, group, hamlet',
  'section.visit': 'Visit',
  'field.visit.place': 'Place',
  'field.visit.reason': 'Why a mobile visit',
  'field.visit.unit': 'Unit of the visit',
  'field.visit.at': 'Time (Vietnam time)',
  'section.kind': 'For this kind of record',
  'field.eid_level': 'e-ID account level',
  'eid_level.1': 'Level 1',
  'eid_level.2': 'Level 2',
  'field.under_14': 'Card request for a child under 14',
  'field.driver_license': 'Driver’s licence number (12 digits)',
  'field.correction.fields': 'Wrong information',
  'field.correction.note': 'Note about the correction',
  'section.attachments': 'Photos and documents',
  'att.face': 'Face photo',
  'att.document': 'Documents (up to 5)',
  'att.fingerprints': 'Fingerprints',
  'att.file': 'Choose a file or take a photo',
  'att.camera': 'Use the camera',
  'att.remove': 'Remove',
  'att.required': '(required)',
  'att.exemption': 'Exempt this finger',
  'att.exemption.none': 'Not exempted',
  'att.kept': 'from the earlier record',
  'att.unreadable': 'Could not read the file {name}.',
  'att.too_many': 'At most 5 documents.',
  'select.choose': '— Choose —',
  'select.none': '— None —',
  'enroll.officer': 'Officer: {id}',
  'enroll.officer.missing': 'No officer ID: lock, then unlock to enter it.',
  'enroll.submit': 'Save record',
  'enroll.saving': 'Saving…',
  'enroll.stored': 'Record {id} saved. It is sent automatically when there is a connection.',
  'enroll.already': 'This record was already saved: {id}.',
  'enroll.invalid': 'The record is not valid ({n} problems): see the message beside each field.',
  'enroll.refused': 'The record was not saved ({n} problems).',
  'enroll.view': 'View the record',
  'enroll.correcting': 'Correcting rejected record {id} ({name}). The new record replaces it.',
  'enroll.correcting.reason': 'Rejected because: {reason}',
  'enroll.from': 'Enrolling a person from the worklist: {name}',
  'enroll.person.notfound': 'Nobody with ID number {id} is on the worklist.',
  'enroll.record.notfound': 'Record {id} not found.',
  'enroll.record.purged': 'This record’s citizen data was purged after confirmation; it cannot be corrected.',
  'enroll.record.corrected': 'Record {id} was already corrected by record {by}.',

  'camera.title': 'Take a photo',
  'camera.capture': 'Capture',
  'camera.cancel': 'Cancel',
  'camera.starting': 'Starting the camera…',
  'camera.error': 'Could not open the camera ({msg}). Use the file button instead.',

  'unit.placeholder': 'Type a commune or ward (accents optional)',
  'unit.none': 'No unit found',
  'unit.options': 'Matching units',

  'queue.title': 'Record queue',
  'queue.search': 'Search by name (accents optional) or ID number',
  'queue.status': 'State',
  'queue.status.all': 'All states',
  'queue.empty': 'No records.',
  'queue.count': '{n} records',
  'queue.corrected': 'Corrected',
  'status.pending': 'Waiting to send',
  'status.held': 'Held by the station',
  'status.confirmed': 'Confirmed',
  'status.rejected': 'Rejected',
  'status.incomplete': 'Photos still to send',

  'record.title': 'Record',
  'record.back': '← Back to the queue',
  'record.id': 'Record ID',
  'record.status': 'State',
  'record.kind': 'Record kind',
  'record.reason': 'Why it was rejected',
  'record.advice': 'What to do',
  'record.correct': 'Correct it as a new record',
  'record.superseded_by': 'Replaced by record',
  'record.supersedes': 'Corrects record',
  'record.enrolled_at': 'Saved at',
  'record.status_at': 'State since',
  'record.held_by': 'Held by station',
  'record.last_error': 'Last sending error',
  'record.attempts': 'Sending attempts',
  'record.officer': 'Officer',
  'record.purged': 'This record’s citizen data was purged after confirmation.',
  'record.attachments': 'Photos and documents',
  'record.none': 'None',
  'record.current_address': 'Current address',
  'record.permanent_address': 'Permanent address',
  'yes': 'Yes',
  'no': 'No',

  'sync.title': 'Sync',
  'sync.connection': 'Connection',
  'sync.conn.online': 'The server can be reached',
  'sync.conn.offline': 'The server cannot be reached',
  'sync.conn.nonet': 'The laptop has no network',
  'sync.conn.unknown': 'Not checked yet',
  'sync.server': 'Server: {server}',
  'sync.outbox': 'Records waiting to send: {n}',
  'sync.now': 'Sync now',
  'sync.running': 'Syncing…',
  'sync.phase.sending': 'Sending records: {sent} of {outbox}',
  'sync.phase.worklist': 'Downloading the worklist…',
  'sync.result': 'Last sync',
  'sync.result.none': 'No sync since the program started.',
  'sync.result.ok': 'Done. Records sent: {sent}; confirmed: {confirmed}; held by the station: {held}; rejected: {rejected}; still waiting: {after}.',
  'sync.result.error': 'Failed: {error}',
  'sync.hint.nonet': 'The laptop has no network. Turn on 4G or Wi-Fi and try again; the records stay safe on the laptop.',
  'sync.hint.unreachable': 'The server cannot be reached. Try again later; the records stay safe on the laptop. Without a network for long, export a bundle for a USB stick.',
  'sync.hint.clock': 'The laptop’s clock is off: set its date and time, then sync again.',
  'sync.hint.revoked': 'This laptop was revoked: contact the officer in charge. The records stay on the laptop.',
  'sync.hint.generic': 'Try again in a few minutes. If it keeps failing, tell the technical officer.',
  'sync.rejected': 'Some records were rejected: open the queue to correct them.',
  'sync.last_success': 'Last successful sync: {at}',
  'sync.never': 'Never synced successfully.',
  'sync.worklist': 'Worklist',
  'sync.worklist.people': '{n} people on the worklist',
  'sync.worklist.last': 'last downloaded {at}',
  'sync.worklist.none': 'The worklist was never downloaded.',
  'sync.worklist.error': 'Worklist download failed: {error}',
  'sync.worklist.skipped': 'Worklist not downloaded: {why}',
  'sync.export': 'Export a bundle for a USB stick',
  'sync.export.help': 'Without a network for long: export the queued records to a file, copy it to a USB stick and hand it in at the station. The records stay queued until the laptop syncs.',
  'sync.export.empty': 'No records are waiting: nothing to export.',
  'sync.export.done': 'Exported {name}.',

  'worklist.title': 'Worklist',
  'worklist.unit': 'Unit',
  'worklist.unit.all': 'All units',
  'worklist.need': 'Need',
  'worklist.need.all': 'All needs',
  'worklist.hamlet': 'Hamlet',
  'worklist.hamlet.all': 'All',
  'worklist.search': 'Search a name or ID number',
  'worklist.include_reached': 'Include people already reached here',
  'worklist.empty': 'Nobody on the worklist matches.',
  'worklist.count': '{n} people',
  'worklist.household': 'Household {h}',
  'worklist.address': 'Address',
  'worklist.born': 'Born {d}',
  'worklist.needs': 'Still needs',
  'worklist.needs.none': 'nothing left',
  'worklist.reason': 'Why',
  'worklist.referred_from': 'Referred from {unit}',
  'worklist.visits': 'Recorded on this laptop',
  'worklist.visits.none': 'Nothing recorded on this laptop yet.',
  'worklist.reached': 'Reached here',
  'worklist.review': 'To review',
  'worklist.enroll': 'Enroll',
  'worklist.outcomes': 'Visit outcome',
  'worklist.recorded': 'Recorded “{outcome}” for {name}.',
  'worklist.officer.missing': 'No officer ID: lock, then unlock to enter it.',
  'need.card': 'identity card',
  'need.eid_registration': 'e-ID registration',
  'need.eid_activation': 'e-ID activation',
  'reason.not_visited': 'not visited',
  'reason.not_home': 'not at home',
  'reason.cannot_travel': 'cannot travel',
  'reason.refused': 'refused',
  'reason.moved': 'moved away',
  'reason.partly_enrolled': 'partly enrolled',
  'reason.review': 'to review (contradicting outcomes)',
  'outcome.unit': 'Unit of the new address (if known)',
  'outcome.unit.required': 'Unit where the person lives now (required)',
  'outcome.detail': 'New address (house, street)',
  'outcome.note': 'Note',
  'outcome.confirm': 'Record',
  'outcome.cancel': 'Cancel',

  'summary.title': 'End of day',
  'summary.date': 'Date',
  'summary.total': 'Records of the day: {n}',
  'summary.by_kind': 'By kind',
  'summary.by_place': 'By place',
  'summary.by_status': 'By state',
  'summary.outcomes': 'Visit outcomes',
  'summary.col.what': 'Item',
  'summary.col.count': 'Count',
  'summary.empty': 'None',
  'summary.blocking': 'What still stands before confirmation',
  'summary.blocking.none': 'Nothing is blocking.',

  'kind.visit_outcome': 'visit outcome',
  'error.network': 'Could not reach the program on this laptop (is doorstep field serve running?).',
  'error.generic': 'Error: {msg}',
  'loading': 'Loading…',
};

const dicts = { vi, en };
const KEY = 'doorstep.lang';
let lang = readLang();
let form = null;
const listeners = new Set();

function readLang() {
  try {
    const v = localStorage.getItem(KEY);
    return v === 'en' ? 'en' : 'vi';
  } catch {
    return 'vi';
  }
}

export const getLang = () => lang;

export function setLang(next) {
  lang = next === 'en' ? 'en' : 'vi';
  try { localStorage.setItem(KEY, lang); } catch { /* private mode: not remembered */ }
  document.documentElement.lang = lang;
  applyI18n(document);
  for (const fn of listeners) fn(lang);
}

export function onLangChange(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

/** t('sync.outbox', {n: 3}) */
export function t(key, vars) {
  let s = dicts[lang][key] ?? dicts.vi[key] ?? key;
  if (vars) s = s.replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m));
  return s;
}

export const has = (key) => key in dicts[lang];

/** Relabel every element built with `h(…, {i18n})` (see dom.js). */
export function applyI18n(root) {
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll('[data-label-list]')) {
    const text = label(el.dataset.labelList, el.dataset.labelValue);
    el.textContent = 'labelCap' in el.dataset ? cap(text) : text;
  }
  for (const attr of ['placeholder', 'aria-label', 'title']) {
    const dataKey = `i18n${attr.split('-').map((p) => p[0].toUpperCase() + p.slice(1)).join('')}`;
    const sel = `[data-i18n-${attr}]`;
    for (const el of root.querySelectorAll(sel)) el.setAttribute(attr, t(el.dataset[dataKey]));
  }
}

/** The answer of GET /api/form, for enumeration labels. */
export function setForm(f) { form = f; }
export const getForm = () => form;

/**
 * The label of an enumeration value: from /api/form's list (`kinds`,
 * `places`, `outcomes`, …) in the current language, else our dictionary
 * (`<prefix>.<value>`), else the value itself.
 */
export function label(list, value) {
  const item = form && Array.isArray(form[list])
    ? form[list].find((x) => x && typeof x === 'object' && String(x.value) === String(value))
    : null;
  if (item && (item[lang] || item.vi)) return item[lang] || item.vi;
  const prefix = { kinds: 'kind', needs: 'need', reasons_worklist: 'reason', statuses: 'status' }[list];
  const key = `${prefix || list}.${value}`;
  return has(key) ? t(key) : String(value);
}

/** The first letter in upper case (labels are lower case, for sentences). */
export const cap = (s) => (s && s[1] !== '-' ? s[0].toLocaleUpperCase() + s.slice(1) : s); // not “e-ID”

/** A <span> whose text follows the language (relabelled by applyI18n). */
export function labelSpan(list, value, cls) {
  const s = document.createElement('span');
  if (cls) s.className = cls;
  s.dataset.labelList = list;
  s.dataset.labelValue = value;
  s.textContent = label(list, value);
  return s;
}

document.documentElement.lang = lang;
