//! The XMP packet (PNG iTXt `XML:com.adobe.xmp`) that tells image tools the
//! picture was made by a trained model: IPTC's digital source type.

/// The PNG keyword XMP lives under.
pub const XMP_KEYWORD: &str = "XML:com.adobe.xmp";
/// IPTC NewsCodes: "created by a trained algorithm from a prompt".
pub const TRAINED_ALGORITHMIC_MEDIA: &str = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia";

/// An XMP packet with the digital source type, the creator tool and the
/// prompt as the description.
pub fn packet(prompt: &str, software: &str) -> String {
    format!(
        concat!(
            "<?xpacket begin=\"\u{feff}\" id=\"W5M0MpCehiHzreSzNTczkc9d\"?>\n",
            "<x:xmpmeta xmlns:x=\"adobe:ns:meta/\">\n",
            " <rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\">\n",
            "  <rdf:Description rdf:about=\"\"\n",
            "    xmlns:Iptc4xmpExt=\"http://iptc.org/std/Iptc4xmpExt/2008-02-29/\"\n",
            "    xmlns:xmp=\"http://ns.adobe.com/xap/1.0/\"\n",
            "    xmlns:dc=\"http://purl.org/dc/elements/1.1/\"\n",
            "    Iptc4xmpExt:DigitalSourceType=\"{}\"\n",
            "    xmp:CreatorTool=\"{}\">\n",
            "   <dc:description><rdf:Alt><rdf:li xml:lang=\"x-default\">{}</rdf:li></rdf:Alt></dc:description>\n",
            "  </rdf:Description>\n",
            " </rdf:RDF>\n",
            "</x:xmpmeta>\n",
            "<?xpacket end=\"r\"?>"
        ),
        TRAINED_ALGORITHMIC_MEDIA,
        escape(software),
        escape(prompt)
    )
}

/// The DigitalSourceType's last path segment (e.g. "trainedAlgorithmicMedia").
pub fn digital_source_type(xmp: &str) -> Option<&str> {
    let start = xmp.find("DigitalSourceType=\"")? + "DigitalSourceType=\"".len();
    let value = &xmp[start..start + xmp[start..].find('"')?];
    value.rsplit('/').next()
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            // XML 1.0 forbids most control characters even escaped.
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\t' | '\r') => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packet_escapes_the_prompt_and_names_the_source_type() {
        let x = packet("a <red> \"house\" & co", "edgepaint 0.1.0");
        assert!(x.contains("a &lt;red&gt; &quot;house&quot; &amp; co"));
        assert_eq!(digital_source_type(&x), Some("trainedAlgorithmicMedia"));
        assert!(x.contains(TRAINED_ALGORITHMIC_MEDIA));
    }
}
