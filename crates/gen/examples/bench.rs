#![allow(clippy::unwrap_used)]
//! Times generation of 100k records (development aid).
fn main() {
    let opts = doorstep_gen::GenOptions {
        seed: 1,
        kind: None,
        units: vec!["25972".into(), "25975".into()],
        home_province: "074".into(),
        all_provinces: vec!["001".into(), "074".into(), "079".into()],
        visit_from: chrono::NaiveDate::from_ymd_opt(2023, 7, 25).unwrap(),
        visit_to: chrono::NaiveDate::from_ymd_opt(2023, 9, 25).unwrap(),
    };
    for _ in 0..3 {
        let t = std::time::Instant::now();
        let n = doorstep_gen::Generator::new(opts.clone())
            .unwrap()
            .take(100_000)
            .filter(|r| r.is_object())
            .count();
        println!("{n} in {:?}", t.elapsed());
    }
}
