//! `tidemark explain`: the statements each dataset would send, without connecting.

use chrono::Utc;

use crate::engine::{CheckPlan, DatasetPlan, plan_dataset};
use crate::spec::{Dataset, Project};
use crate::warehouse::{Dialect, schema_query};

pub fn print(project: &Project, datasets: &[&Dataset]) -> u8 {
    for dataset in datasets {
        let Some(config) = project.warehouses.get(&dataset.warehouse) else {
            continue;
        };
        let Some(dialect) = Dialect::from_url(config.url.expose()) else {
            continue;
        };
        let plan = plan_dataset(dataset, dialect, None);
        println!(
            "-- dataset {} on warehouse {} ({}): {} statements",
            dataset.name,
            dataset.warehouse,
            dialect.name(),
            plan.statement_count()
        );
        println!(
            "-- 1. schema of {}\n{};\n",
            dataset.name,
            schema_query(dialect, &dataset.table)
        );
        if let Some(sql) = &plan.aggregate {
            let names = planned(dataset, &plan, |p| matches!(p, CheckPlan::Metric(_)));
            println!("-- 2. aggregate for {names}\n{sql};\n");
        }
        if let Some(buckets) = &plan.buckets {
            let names = planned(dataset, &plan, |p| matches!(p, CheckPlan::Bucketed(_)));
            // As a first run would send it; later runs start at the stored watermark
            // minus `backfill`.
            let partition = &buckets.partition;
            let window = partition.window(None, Utc::now());
            let grain = partition.grain.keyword();
            println!(
                "-- per {grain} for {} (a first run: the last {} {grain}s; later runs: from the \
                 newest stored {grain}, less backfill {})\n{};\n",
                names,
                partition.history,
                partition.backfill,
                buckets.sql(dataset, dialect, window)
            );
        }
        for (check, check_plan) in dataset.checks.iter().zip(&plan.checks) {
            match check_plan {
                CheckPlan::SqlMetric(sql) => {
                    println!("-- sql_metric {} (read-only)\n{sql};\n", check.name);
                }
                CheckPlan::Distribution(profile) => {
                    let sql = &profile.sql;
                    println!("-- profile for {}\n{sql};\n", profile.describe(check));
                }
                _ => {}
            }
        }
    }
    0
}

/// The names of the dataset's checks whose plan is `kind`, comma-separated.
fn planned(dataset: &Dataset, plan: &DatasetPlan, kind: impl Fn(&CheckPlan) -> bool) -> String {
    let names: Vec<&str> = dataset
        .checks
        .iter()
        .zip(&plan.checks)
        .filter(|(_, p)| kind(p))
        .map(|(c, _)| c.name.as_str())
        .collect();
    names.join(", ")
}
