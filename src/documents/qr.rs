//! QR codes as inline SVG, made on the server (the `qrcode` crate: no image stack, no script).

use crate::error::ApiError;

/// An `<svg>` element (no XML declaration, so it can stand inside HTML) encoding `text`.
pub fn svg(text: &str) -> Result<String, ApiError> {
    let code = qrcode::QrCode::with_error_correction_level(text.as_bytes(), qrcode::EcLevel::M)
        .map_err(|e| ApiError::internal(format!("QR code: {e}")))?;
    let out = code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(132, 132)
        .quiet_zone(true)
        .dark_color(qrcode::render::svg::Color("#000000"))
        .light_color(qrcode::render::svg::Color("#ffffff"))
        .build();
    let at = out.find("<svg").unwrap_or(0);
    Ok(out[at..].to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_address_becomes_an_svg_element() {
        let s = super::svg("https://credit.example/verify/receipts/1?hash=00").unwrap();
        assert!(s.starts_with("<svg"), "{s}");
        assert!(s.trim_end().ends_with("</svg>"));
        assert!(!s.contains("<?xml"));
    }
}
