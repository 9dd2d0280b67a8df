//! The desktop page: the agent's state and time in state, the login /
//! ready / not ready / wrap-up / logout controls, click to dial, the
//! agent's calls, the screen pop and the new-ticket form. The markup is
//! a fixed frame rendered here (Bahasa Indonesia or English); the
//! script (`assets/desktop.js`, no inline script under the CSP) fills it
//! from the stream and sends the actions. Laid out for 1366×768.

use axum::extract::State;
use axum::response::Html;

use super::me::{self, WRAPUP_CODES};
use crate::app::AppState;
use crate::auth::Viewer;
use crate::error::AppError;
use crate::i18n::Text;
use crate::live::feed;
use crate::ui::{esc, page_with};

fn t(v: &Viewer, id: &'static str, en: &'static str) -> &'static str {
    v.lang.t(&Text { id, en })
}

fn button(id: &str, text: &str) -> String {
    format!("<button type=\"button\" id=\"{id}\">{}</button>", esc(text))
}

pub async fn page(State(state): State<AppState>, v: Viewer) -> Result<Html<String>, AppError> {
    let title = t(&v, "Desktop agen", "Agent desktop");
    let Some(me) = me::me(&state, &v).await? else {
        let b = format!(
            "<p id=\"not-agent\" class=\"warning\">{}</p>",
            esc(t(
                &v,
                "Akun ini bukan agen: login akun harus sama dengan ID agen di konfigurasi.",
                "This account is not an agent: its login must be an agent ID of the configuration."
            ))
        );
        return Ok(page_with(&v, title, &b, &[]));
    };
    // Start the shared feed now, so the page's stream finds it warm.
    let _ = feed::hub(state.data_dir());
    let mut b = format!(
        "<link rel=\"stylesheet\" href=\"/assets/desktop.css\">\
         <div id=\"desktop\" data-lang=\"{}\" data-agent=\"{}\">",
        v.lang.code(),
        esc(&me.agent)
    );
    b.push_str(&format!(
        "<p id=\"feed\" class=\"feed\" data-connected=\"false\">{}</p>",
        t(&v, "Menghubungkan…", "Connecting…")
    ));
    // The agent: state, time in state, and the controls.
    b.push_str(&format!(
        "<section id=\"me\" class=\"panel\"><h2>{} {} ({})</h2>\
         <p class=\"status\"><span id=\"state\" data-state=\"logged_out\">—</span> \
         <span id=\"since\" class=\"tick\"></span> <span id=\"at-phone\"></span></p>",
        t(&v, "Agen", "Agent"),
        esc(&me.agent),
        esc(&me.name)
    ));
    b.push_str(&format!(
        "<form id=\"login-form\" class=\"row\">\
         <label>{}<input id=\"d-agent\" name=\"agent\" value=\"{}\" readonly size=\"6\"></label>\
         <label>PIN<input id=\"d-pin\" name=\"pin\" type=\"password\" inputmode=\"numeric\" size=\"6\" autocomplete=\"off\"></label>\
         <label>{}<input id=\"d-extension\" name=\"extension\" inputmode=\"numeric\" size=\"6\"></label>\
         <button type=\"submit\" id=\"do-login\">{}</button></form>",
        t(&v, "ID agen", "Agent ID"),
        esc(&me.agent),
        t(&v, "Telepon", "Phone"),
        t(&v, "Masuk antrean", "Log in to queues"),
    ));
    b.push_str("<div id=\"controls\" class=\"row\">");
    b.push_str(&button("do-ready", t(&v, "Siap", "Ready")));
    b.push_str(&format!(
        "<select id=\"d-reason\" aria-label=\"{}\">",
        t(&v, "Alasan tidak siap", "Not-ready reason")
    ));
    for (code, name) in &me.reasons {
        b.push_str(&format!(
            "<option value=\"{}\">{} {}</option>",
            esc(code),
            esc(code),
            esc(name)
        ));
    }
    b.push_str("</select>");
    b.push_str(&button("do-not-ready", t(&v, "Tidak siap", "Not ready")));
    b.push_str(&format!(
        "<select id=\"d-wrapup\" aria-label=\"{}\">",
        t(&v, "Kode wrap-up", "Wrap-up code")
    ));
    for (code, id, en) in WRAPUP_CODES {
        b.push_str(&format!(
            "<option value=\"{}\">{}</option>",
            esc(code),
            esc(v.lang.t(&Text { id, en }))
        ));
    }
    b.push_str("</select>");
    b.push_str(&button(
        "do-wrapup",
        t(&v, "Selesai wrap-up", "End wrap-up"),
    ));
    b.push_str(&button(
        "do-logout",
        t(&v, "Keluar antrean", "Log out of queues"),
    ));
    b.push_str("</div>");
    b.push_str(&format!(
        "<form id=\"dial-form\" class=\"row\"><label>{}<input id=\"d-dial\" inputmode=\"tel\" size=\"14\"></label>\
         <button type=\"submit\" id=\"do-dial\">{}</button></form>\
         <p id=\"message\" role=\"status\"></p></section>",
        t(&v, "Nomor", "Number"),
        t(&v, "Panggil", "Dial")
    ));
    // The agent's calls and their actions.
    b.push_str(&format!(
        "<section class=\"panel\"><h2>{}</h2><table id=\"calls\"><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody></tbody></table></section>",
        t(&v, "Panggilan saya", "My calls"),
        t(&v, "Penelepon", "Caller"),
        t(&v, "Layanan", "Service"),
        t(&v, "Status", "State"),
        t(&v, "Durasi", "Duration"),
        t(&v, "Tindakan", "Actions"),
    ));
    // The screen pop.
    b.push_str(&format!(
        "<section id=\"pop\" class=\"panel\" hidden><h2>{}</h2>\
         <p><strong id=\"pop-caller\"></strong> <span id=\"pop-name\"></span></p>\
         <p id=\"pop-service\"></p>\
         <h3>{}</h3><table id=\"pop-history\"><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody></tbody></table>\
         <h3>{}</h3><table id=\"pop-tickets\"><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody></tbody></table>\
         </section>",
        t(&v, "Panggilan masuk", "Incoming call"),
        t(&v, "Riwayat panggilan", "Call history"),
        t(&v, "Waktu", "When"),
        t(&v, "Tujuan", "Dialled"),
        t(&v, "Hasil", "Outcome"),
        t(&v, "Rekaman", "Recording"),
        t(&v, "Tiket penelepon", "Caller's tickets"),
        t(&v, "Nomor", "Number"),
        t(&v, "Kategori", "Category"),
        t(&v, "Status", "Status"),
        t(&v, "Prioritas", "Priority"),
    ));
    // The new ticket, filled from the pop.
    let level = |id: &str| {
        format!(
            "<select id=\"{id}\"><option value=\"low\">{}</option><option value=\"medium\" selected>{}</option><option value=\"high\">{}</option></select>",
            t(&v, "rendah", "low"),
            t(&v, "sedang", "medium"),
            t(&v, "tinggi", "high")
        )
    };
    b.push_str(&format!(
        "<section class=\"panel\"><h2>{}</h2><form id=\"ticket-form\">\
         <input type=\"hidden\" id=\"t-call\"><input type=\"hidden\" id=\"t-queue\">\
         <label>{}<input id=\"t-name\" maxlength=\"200\"></label>\
         <label>{}<input id=\"t-phone\" required maxlength=\"40\"></label>\
         <label>{}<input id=\"t-email\" type=\"email\" maxlength=\"200\"></label>\
         <label>{}<select id=\"t-category\"><option value=\"pengaduan\">{}</option><option value=\"informasi\">{}</option></select></label>\
         <label>{}{}</label><label>{}{}</label>\
         <label>{}<input id=\"t-unit\" value=\"KU Dumas\" maxlength=\"200\"></label>\
         <label class=\"wide\">{}<textarea id=\"t-description\" required rows=\"3\" maxlength=\"8000\"></textarea></label>\
         <p class=\"call-link\">{} <span id=\"t-call-shown\">—</span></p>\
         <button type=\"submit\" id=\"t-save\">{}</button> <span id=\"t-result\" role=\"status\"></span>\
         </form></section>",
        t(&v, "Tiket baru", "New ticket"),
        t(&v, "Nama pelapor", "Reporter's name"),
        t(&v, "Telepon", "Phone"),
        t(&v, "Email", "Email"),
        t(&v, "Kategori", "Category"),
        t(&v, "Pengaduan", "Complaint"),
        t(&v, "Permintaan informasi", "Information request"),
        t(&v, "Urgensi", "Urgency"),
        level("t-urgency"),
        t(&v, "Dampak", "Impact"),
        level("t-impact"),
        t(&v, "Unit", "Unit"),
        t(&v, "Uraian", "Description"),
        t(&v, "Panggilan terkait:", "Linked call:"),
        t(&v, "Simpan tiket", "Save ticket"),
    ));
    b.push_str("</div>");
    Ok(page_with(&v, title, &b, &["desktop.js"]))
}
