//! The read planner: which requests read a poll group's tags. Pure, so it is tested alone.
//!
//! Tags of one table are sorted by address and gathered greedily into requests: a tag joins
//! the current request when the gap before it is at most `max_gap` and the request stays
//! within the protocol's limit (125 registers, 2000 bits). Reading across a small gap costs a
//! few bytes; another request costs a round trip.

use crate::config::modbus::{Table, Tag};

/// One read: `count` registers (or bits) of `table` from `start`, and the tags it carries
/// (indexes into the group's tags).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadRequest {
    pub table: Table,
    pub start: u16,
    pub count: u16,
    pub tags: Vec<usize>,
}

impl ReadRequest {
    /// End of the request, exclusive.
    pub fn end(&self) -> u32 {
        u32::from(self.start) + u32::from(self.count)
    }
}

/// The fewest requests that read every tag within the limits, bridging gaps of at most
/// `max_gap_registers` registers and `max_gap_bits` coils or discrete inputs.
pub fn plan_reads(tags: &[Tag], max_gap_registers: u16, max_gap_bits: u16) -> Vec<ReadRequest> {
    let mut order: Vec<usize> = (0..tags.len()).collect();
    order.sort_by_key(|&i| (tags[i].table, tags[i].address, i));
    let mut requests: Vec<ReadRequest> = Vec::new();
    for i in order {
        let tag = &tags[i];
        let start = u32::from(tag.address);
        let end = start + u32::from(tag.width());
        let max_gap = u32::from(if tag.table.is_bits() {
            max_gap_bits
        } else {
            max_gap_registers
        });
        let limit = u32::from(tag.table.max_read());
        if let Some(current) = requests.last_mut()
            && current.table == tag.table
            && start <= current.end() + max_gap
            && end.max(current.end()) - u32::from(current.start) <= limit
        {
            let new_end = end.max(current.end());
            current.count = (new_end - u32::from(current.start)) as u16;
            current.tags.push(i);
            continue;
        }
        requests.push(ReadRequest {
            table: tag.table,
            start: tag.address,
            count: tag.width(),
            tags: vec![i],
        });
    }
    requests
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::modbus::{ByteOrder, DataType, Report};

    fn tag(table: Table, address: u16, data_type: DataType) -> Tag {
        Tag {
            name: format!("{}{address}", table.name()),
            table,
            address,
            bit: None,
            data_type,
            order: ByteOrder::Abcd,
            scale: None,
            offset: None,
            deadband: None,
            report: Report::OnChange,
            meaning: None,
        }
    }

    fn holding(address: u16, data_type: DataType) -> Tag {
        tag(Table::HoldingRegisters, address, data_type)
    }

    /// (table, start, count, tags) of each request.
    fn check(tags: &[Tag], gap: u16, expect: &[(Table, u16, u16, &[usize])]) {
        let got = plan_reads(tags, gap, gap * 16);
        let got: Vec<_> = got
            .iter()
            .map(|r| (r.table, r.start, r.count, r.tags.as_slice()))
            .collect();
        assert_eq!(got, expect);
    }

    use DataType::*;
    use Table::*;

    #[test]
    fn adjacent_tags_share_one_request() {
        let tags = [holding(0, U16), holding(1, U32), holding(3, F64)];
        check(&tags, 0, &[(HoldingRegisters, 0, 7, &[0, 1, 2])]);
    }

    #[test]
    fn small_gaps_are_bridged_large_ones_split() {
        let tags = [holding(0, U16), holding(5, U16), holding(20, U16)];
        check(
            &tags,
            4,
            &[
                (HoldingRegisters, 0, 6, &[0, 1]),
                (HoldingRegisters, 20, 1, &[2]),
            ],
        );
        check(
            &tags,
            0,
            &[
                (HoldingRegisters, 0, 1, &[0]),
                (HoldingRegisters, 5, 1, &[1]),
                (HoldingRegisters, 20, 1, &[2]),
            ],
        );
    }

    #[test]
    fn tables_never_mix_and_come_out_in_table_order() {
        let tags = [
            holding(0, U16),
            tag(InputRegisters, 1, U16),
            tag(Coils, 0, Bool),
            tag(Coils, 1, Bool),
            tag(DiscreteInputs, 0, Bool),
        ];
        check(
            &tags,
            8,
            &[
                (Coils, 0, 2, &[2, 3]),
                (DiscreteInputs, 0, 1, &[4]),
                (InputRegisters, 1, 1, &[1]),
                (HoldingRegisters, 0, 1, &[0]),
            ],
        );
    }

    #[test]
    fn a_request_never_exceeds_125_registers() {
        // 100 u32 tags back to back: 200 registers, so two requests (125 would split a tag).
        let tags: Vec<Tag> = (0..100).map(|i| holding(i * 2, U32)).collect();
        let plan = plan_reads(&tags, 8, 64);
        assert_eq!(plan.len(), 2);
        assert!(plan.iter().all(|r| r.count <= 125));
        assert_eq!(plan[0].count, 124);
        assert_eq!(plan[1].start, 124);
        let mut carried: Vec<usize> = plan.iter().flat_map(|r| r.tags.clone()).collect();
        carried.sort();
        assert_eq!(carried, (0..100).collect::<Vec<_>>());
    }

    #[test]
    fn a_request_never_exceeds_2000_bits() {
        let tags: Vec<Tag> = (0..4000).map(|i| tag(Coils, i, Bool)).collect();
        let plan = plan_reads(&tags, 0, 0);
        assert_eq!(
            plan.iter().map(|r| (r.start, r.count)).collect::<Vec<_>>(),
            vec![(0, 2000), (2000, 2000)]
        );
    }

    #[test]
    fn bits_of_one_register_and_the_register_itself_are_read_once() {
        let mut b3 = holding(9, Bool);
        b3.bit = Some(3);
        let mut b4 = holding(9, Bool);
        b4.bit = Some(4);
        let tags = [b3, holding(9, U16), b4];
        check(&tags, 0, &[(HoldingRegisters, 9, 1, &[0, 1, 2])]);
    }

    #[test]
    fn the_last_register_of_the_table_is_reachable() {
        let tags = [holding(65534, U16), holding(65535, U16)];
        check(&tags, 0, &[(HoldingRegisters, 65534, 2, &[0, 1])]);
    }

    #[test]
    fn unsorted_input_gives_the_same_plan() {
        let tags = [holding(40, U16), holding(0, U16), holding(2, U16)];
        check(
            &tags,
            2,
            &[
                (HoldingRegisters, 0, 3, &[1, 2]),
                (HoldingRegisters, 40, 1, &[0]),
            ],
        );
    }

    #[test]
    fn greedy_is_no_worse_than_any_split_on_random_maps() {
        // A brute-force lower bound: the number of requests a plan needs is at least the number
        // of gaps wider than max_gap plus 1, per table; greedy must reach it whenever no request
        // hits the size limit.
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        for _ in 0..200 {
            let mut addr = 0u16;
            let mut tags = Vec::new();
            for _ in 0..rng.random_range(1..15) {
                addr += rng.random_range(0..6);
                let t = if rng.random_bool(0.5) { U16 } else { U32 };
                tags.push(holding(addr, t));
                addr += t.registers();
            }
            let gap = rng.random_range(0..4);
            let plan = plan_reads(&tags, gap, 0);
            let mut wide_gaps = 0;
            for w in tags.windows(2) {
                let end = u32::from(w[0].address) + u32::from(w[0].width());
                if u32::from(w[1].address) > end + u32::from(gap) {
                    wide_gaps += 1;
                }
            }
            assert_eq!(plan.len(), wide_gaps + 1, "{tags:?}");
            for r in &plan {
                for &i in &r.tags {
                    assert!(tags[i].address >= r.start);
                    assert!(u32::from(tags[i].address) + u32::from(tags[i].width()) <= r.end());
                }
            }
        }
    }
}
