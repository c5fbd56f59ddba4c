//! Diesel table definitions shared by both backends. Kept by hand in step with
//! `migrations/sqlite` and `migrations/postgres`.

diesel::table! {
    regions (code) {
        code -> Text,
        name -> Text,
        kind -> Text,
        parent_code -> Nullable<Text>,
    }
}

diesel::table! {
    departments (id) {
        id -> Integer,
        name -> Text,
        region_code -> Text,
        kind -> Text,
        active -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        former_names -> Text,
    }
}

diesel::table! {
    users (id) {
        id -> Integer,
        username -> Text,
        display_name -> Text,
        password_hash -> Text,
        role -> Text,
        department_id -> Nullable<Integer>,
        region_code -> Nullable<Text>,
        active -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        password_changed_at -> Timestamp,
    }
}

diesel::table! {
    sessions (id) {
        id -> Text,
        user_id -> Integer,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
        revoked_reason -> Nullable<Text>,
    }
}

diesel::table! {
    refresh_tokens (token_hash) {
        token_hash -> Text,
        session_id -> Text,
        issued_at -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    audit_head (id) {
        id -> Integer,
        seq -> BigInt,
        last_hash -> Text,
    }
}

diesel::table! {
    audit_log (id) {
        id -> BigInt,
        at -> Timestamp,
        actor_user_id -> Nullable<Integer>,
        actor_username -> Nullable<Text>,
        actor_role -> Nullable<Text>,
        action -> Text,
        entity_type -> Text,
        entity_id -> Nullable<Text>,
        region_code -> Nullable<Text>,
        department_id -> Nullable<Integer>,
        before_json -> Nullable<Text>,
        after_json -> Nullable<Text>,
        request_id -> Nullable<Text>,
        ip -> Nullable<Text>,
        prev_hash -> Text,
        hash -> Text,
    }
}

diesel::table! {
    calendar_days (day) {
        day -> Date,
        kind -> Text,
        name -> Text,
    }
}

diesel::table! {
    national_baselines (region_code, year, list_type) {
        region_code -> Text,
        year -> Integer,
        list_type -> Text,
        count -> Integer,
        provenance -> Text,
        updated_at -> Timestamp,
        updated_by -> Nullable<Integer>,
    }
}

diesel::table! {
    feed_events (id) {
        id -> BigInt,
        event_type -> Text,
        entity_type -> Text,
        entity_id -> Text,
        region_code -> Nullable<Text>,
        department_id -> Nullable<Integer>,
        payload -> Text,
        occurred_at -> Timestamp,
    }
}

diesel::table! {
    check_changes (id) {
        id -> BigInt,
        tbl -> Text,
        row_id -> BigInt,
    }
}

diesel::table! {
    attachments (id) {
        id -> Integer,
        filename -> Text,
        content_type -> Text,
        size_bytes -> BigInt,
        sha256 -> Text,
        content -> Binary,
        department_id -> Nullable<Integer>,
        region_code -> Nullable<Text>,
        uploaded_by -> Integer,
        created_at -> Timestamp,
    }
}

diesel::table! {
    commitment_templates (id) {
        id -> Integer,
        department_id -> Integer,
        purpose -> Text,
        status -> Text,
        latest_version -> Integer,
        published_version -> Nullable<Integer>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        published_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    commitment_template_versions (template_id, version) {
        template_id -> Integer,
        version -> Integer,
        title -> Text,
        body -> Text,
        created_at -> Timestamp,
        created_by -> Nullable<Integer>,
        published_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    commitments (id) {
        id -> Integer,
        subject_id -> Integer,
        template_id -> Integer,
        template_version -> Integer,
        purpose -> Text,
        department_id -> Integer,
        region_code -> Text,
        signatory -> Text,
        signed_at -> Timestamp,
        text_snapshot -> Text,
        text_sha256 -> Text,
        attachment_id -> Nullable<Integer>,
        valid_until -> Nullable<Date>,
        recorded_by -> Integer,
        created_at -> Timestamp,
        check_id -> Nullable<Integer>,
        licence_reference -> Nullable<Text>,
    }
}

diesel::table! {
    commitment_breaches (id) {
        id -> Integer,
        commitment_id -> Integer,
        department_id -> Integer,
        breach_date -> Date,
        facts -> Text,
        recorded_by -> Integer,
        created_at -> Timestamp,
    }
}

diesel::table! {
    training_sessions (id) {
        id -> Integer,
        department_id -> Integer,
        region_code -> Text,
        session_date -> Date,
        form -> Text,
        topic -> Text,
        hours -> Double,
        created_by -> Integer,
        created_at -> Timestamp,
    }
}

diesel::table! {
    training_attendance (id) {
        id -> Integer,
        session_id -> Integer,
        subject_id -> Integer,
        attendee_name -> Text,
        completed -> Bool,
        certificate_number -> Nullable<Text>,
        recorded_by -> Integer,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    service_records (id) {
        id -> Integer,
        subject_id -> Integer,
        kind -> Text,
        organisation -> Text,
        hours -> Double,
        service_date -> Date,
        proof_reference -> Text,
        department_id -> Integer,
        region_code -> Text,
        recorded_by -> Integer,
        created_at -> Timestamp,
    }
}

diesel::table! {
    repairs (id) {
        id -> Integer,
        subject_id -> Integer,
        entry_id -> Integer,
        department_id -> Integer,
        region_code -> Text,
        status -> Text,
        grounds -> Text,
        commitment_id -> Integer,
        attendance_id -> Nullable<Integer>,
        version -> Integer,
        deadline -> Nullable<Date>,
        submitted_at -> Timestamp,
        updated_at -> Timestamp,
        completed_at -> Nullable<Timestamp>,
        created_by -> Integer,
        correction_date -> Nullable<Date>,
    }
}

diesel::table! {
    repair_documents (repair_id, attachment_id) {
        repair_id -> Integer,
        attachment_id -> Integer,
        purpose -> Text,
    }
}

diesel::table! {
    repair_service_records (repair_id, service_record_id) {
        repair_id -> Integer,
        service_record_id -> Integer,
    }
}

diesel::table! {
    repair_steps (id) {
        id -> Integer,
        repair_id -> Integer,
        action -> Text,
        from_status -> Nullable<Text>,
        to_status -> Text,
        comment -> Nullable<Text>,
        actor_user_id -> Integer,
        at -> Timestamp,
    }
}

diesel::joinable!(commitment_template_versions -> commitment_templates (template_id));
diesel::joinable!(commitment_breaches -> commitments (commitment_id));
diesel::joinable!(training_attendance -> training_sessions (session_id));
diesel::joinable!(repair_steps -> repairs (repair_id));
diesel::joinable!(repair_documents -> repairs (repair_id));
diesel::joinable!(commitment_templates -> departments (department_id));
diesel::joinable!(commitments -> departments (department_id));
diesel::joinable!(repair_documents -> attachments (attachment_id));
diesel::joinable!(repair_service_records -> service_records (service_record_id));
diesel::joinable!(departments -> regions (region_code));
diesel::joinable!(users -> departments (department_id));
diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(refresh_tokens -> sessions (session_id));
diesel::joinable!(national_baselines -> regions (region_code));
diesel::joinable!(national_baselines -> users (updated_by));

diesel::allow_tables_to_appear_in_same_query!(
    regions,
    departments,
    users,
    sessions,
    refresh_tokens,
    audit_head,
    audit_log,
    application_fields,
    four_list_items,
    special_rectification_items,
    four_list_item_versions,
    four_list_links,
    subjects,
    list_entries,
    objections,
    calendar_days,
    national_baselines,
    credit_checks,
    check_feedback,
    check_day_counts,
    check_days_counted,
    watches,
    watch_notifications,
    feed_events,
    check_changes,
    attachments,
    commitment_templates,
    commitment_template_versions,
    commitments,
    commitment_breaches,
    training_sessions,
    training_attendance,
    service_records,
    repairs,
    repair_documents,
    repair_service_records,
    repair_steps,
    cases,
    case_subjects,
    case_entries,
    case_measures,
    case_departments,
    case_media_reports,
    monthly_snapshots,
    feed_delivery,
);

diesel::table! {
    application_fields (code) {
        code -> Text,
        name -> Text,
        active -> Bool,
        notification_commitment -> Bool,
    }
}

diesel::table! {
    four_list_items (id) {
        id -> Integer,
        department_id -> Integer,
        kind -> Text,
        code -> Text,
        status -> Text,
        latest_version -> Integer,
        published_version -> Nullable<Integer>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        published_at -> Nullable<Timestamp>,
        repealed_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    four_list_item_versions (item_id, version) {
        item_id -> Integer,
        version -> Integer,
        status -> Text,
        title -> Text,
        description -> Text,
        legal_basis -> Text,
        subject_kinds -> Text,
        fields -> Text,
        implementing_departments -> Text,
        linked_scope_items -> Text,
        severity -> Nullable<Text>,
        publication_months_min -> Nullable<Integer>,
        publication_months_max -> Nullable<Integer>,
        repair_after_months -> Nullable<Integer>,
        repairable -> Nullable<Bool>,
        repair_requires_training -> Nullable<Bool>,
        repair_requires_credit_report -> Nullable<Bool>,
        objection_accept_days -> Nullable<Integer>,
        objection_verify_days -> Nullable<Integer>,
        publicly_disclosed -> Nullable<Bool>,
        repair_waiting_from -> Nullable<Text>,
        validity_months -> Nullable<Integer>,
        created_at -> Timestamp,
        created_by -> Nullable<Integer>,
        published_at -> Nullable<Timestamp>,
        origin -> Nullable<Text>,
    }
}

diesel::table! {
    four_list_links (measure_item_id, scope_item_id) {
        measure_item_id -> Integer,
        scope_item_id -> Integer,
    }
}

diesel::table! {
    subjects (id) {
        id -> Integer,
        kind -> Text,
        lookup_key -> Text,
        uscc -> Nullable<Text>,
        id_number_enc -> Nullable<Text>,
        id_number_masked -> Nullable<Text>,
        name -> Text,
        region_code -> Nullable<Text>,
        code_flagged -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    list_entries (id) {
        id -> Integer,
        subject_id -> Integer,
        list_type -> Text,
        status -> Text,
        department_id -> Integer,
        region_code -> Text,
        scope_item_id -> Integer,
        scope_item_version -> Integer,
        subject_name -> Text,
        legal_representative -> Nullable<Text>,
        legal_representative_id_enc -> Nullable<Text>,
        legal_representative_id_masked -> Nullable<Text>,
        document_number -> Text,
        determination_date -> Date,
        valid_from -> Date,
        valid_until -> Date,
        facts -> Text,
        internal_note -> Nullable<Text>,
        source -> Text,
        objection_open -> Bool,
        removal_reason -> Nullable<Text>,
        removal_date -> Nullable<Date>,
        removal_note -> Nullable<Text>,
        removed_at -> Nullable<Timestamp>,
        published_at -> Nullable<Timestamp>,
        created_by -> Nullable<Integer>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        notice_date -> Nullable<Date>,
        statement_outcome -> Nullable<Text>,
        import_id -> Nullable<Text>,
    }
}

diesel::table! {
    objections (id) {
        id -> Integer,
        entry_id -> Integer,
        raised_by -> Text,
        grounds -> Text,
        received_date -> Date,
        accept_deadline -> Date,
        verify_deadline -> Date,
        status -> Text,
        resolution_reason -> Nullable<Text>,
        resolved_at -> Nullable<Timestamp>,
        resolved_by -> Nullable<Integer>,
        created_by -> Nullable<Integer>,
        created_at -> Timestamp,
    }
}

diesel::joinable!(four_list_items -> departments (department_id));
diesel::joinable!(four_list_item_versions -> four_list_items (item_id));
diesel::joinable!(list_entries -> subjects (subject_id));
diesel::joinable!(list_entries -> departments (department_id));
diesel::joinable!(list_entries -> four_list_items (scope_item_id));
diesel::joinable!(objections -> list_entries (entry_id));

diesel::table! {
    credit_checks (id) {
        id -> Integer,
        checked_at -> Timestamp,
        caller_user_id -> Integer,
        caller_department_id -> Nullable<Integer>,
        field -> Text,
        reference -> Nullable<Text>,
        purpose -> Nullable<Text>,
        advice -> Text,
        subject_key -> Text,
        subject_id -> Nullable<Integer>,
        region_code -> Text,
        measure_ids -> Text,
        answer -> Text,
        subject_bucket -> Integer,
    }
}

diesel::table! {
    check_day_counts (day, field, caller_department_id, advice, region_code, measures_applied, caller_user_id) {
        day -> Date,
        field -> Text,
        caller_department_id -> Integer,
        advice -> Text,
        region_code -> Text,
        measures_applied -> Text,
        caller_user_id -> Integer,
        checks -> BigInt,
    }
}

diesel::table! {
    check_days_counted (day) {
        day -> Date,
        counted_at -> Timestamp,
    }
}

diesel::table! {
    check_feedback (check_id) {
        check_id -> Integer,
        decision -> Text,
        measures_applied -> Text,
        note -> Text,
        decided_at -> Timestamp,
        idempotency_key -> Nullable<Text>,
        recorded_by -> Integer,
        recorded_at -> Timestamp,
    }
}

diesel::table! {
    watches (id) {
        id -> Integer,
        user_id -> Integer,
        subject_key -> Text,
        subject_code -> Text,
        code_encrypted -> Bool,
        created_at -> Timestamp,
    }
}

diesel::table! {
    watch_notifications (id) {
        id -> Integer,
        watch_id -> Integer,
        user_id -> Integer,
        entry_id -> Integer,
        event -> Text,
        list_type -> Text,
        occurred_at -> Timestamp,
    }
}

diesel::joinable!(check_feedback -> credit_checks (check_id));
diesel::joinable!(watch_notifications -> watches (watch_id));
diesel::joinable!(watch_notifications -> list_entries (entry_id));

diesel::table! {
    cases (id) {
        id -> Integer,
        title -> Text,
        kind -> Text,
        status -> Text,
        department_id -> Integer,
        region_code -> Text,
        field -> Text,
        case_date -> Date,
        summary -> Text,
        submitted_at -> Nullable<Timestamp>,
        shared_at -> Nullable<Timestamp>,
        corrects_case_id -> Nullable<Integer>,
        source_check_id -> Nullable<Integer>,
        idempotency_key -> Nullable<Text>,
        request_hash -> Nullable<Text>,
        created_by -> Integer,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    case_subjects (case_id, subject_id) {
        case_id -> Integer,
        subject_id -> Integer,
    }
}

diesel::table! {
    case_entries (case_id, entry_id) {
        case_id -> Integer,
        entry_id -> Integer,
    }
}

diesel::table! {
    case_measures (case_id, measure_item_id) {
        case_id -> Integer,
        measure_item_id -> Integer,
        measure_version -> Integer,
    }
}

diesel::table! {
    case_departments (case_id, department_id) {
        case_id -> Integer,
        department_id -> Integer,
    }
}

diesel::table! {
    case_media_reports (id) {
        id -> Integer,
        case_id -> Integer,
        outlet -> Text,
        level -> Text,
        report_date -> Date,
        link -> Text,
        created_by -> Integer,
        created_at -> Timestamp,
    }
}

diesel::table! {
    monthly_snapshots (id) {
        id -> Integer,
        region_code -> Text,
        year -> Integer,
        month -> Integer,
        figures -> Text,
        closed_at -> Timestamp,
        closed_by -> Integer,
    }
}

diesel::table! {
    feed_delivery (target) {
        target -> Text,
        last_delivered_id -> BigInt,
        attempts -> Integer,
        last_error -> Nullable<Text>,
        last_attempt_at -> Nullable<Timestamp>,
        last_success_at -> Nullable<Timestamp>,
        lease_holder -> Nullable<Text>,
        lease_expires_at -> Nullable<Timestamp>,
    }
}

diesel::joinable!(case_subjects -> cases (case_id));
diesel::joinable!(case_subjects -> subjects (subject_id));
diesel::joinable!(case_entries -> cases (case_id));
diesel::joinable!(case_entries -> list_entries (entry_id));
diesel::joinable!(case_measures -> cases (case_id));
diesel::joinable!(case_measures -> four_list_items (measure_item_id));
diesel::joinable!(case_departments -> cases (case_id));
diesel::joinable!(case_media_reports -> cases (case_id));

diesel::table! {
    special_rectification_items (item_id) {
        item_id -> Integer,
        category -> Text,
        set_by -> Integer,
        set_at -> Timestamp,
    }
}

diesel::joinable!(special_rectification_items -> four_list_items (item_id));

// Counters kept by triggers for the year-end targets (migration `target_counters`).
diesel::table! {
    in_force_days (day, region_code, department_id, source, list_type) {
        day -> Date,
        region_code -> Text,
        department_id -> Integer,
        source -> Text,
        list_type -> Text,
        n -> Integer,
    }
}

diesel::table! {
    in_force_months (month, region_code, department_id, source, list_type) {
        month -> Date,
        region_code -> Text,
        department_id -> Integer,
        source -> Text,
        list_type -> Text,
        n -> Integer,
    }
}

diesel::table! {
    population_days (year, population, day, grouping, unit) {
        year -> Integer,
        population -> Text,
        day -> Date,
        grouping -> Text,
        unit -> Text,
        members -> Integer,
        trained -> Integer,
        committed -> Integer,
    }
}

// Section 九's still-listed stretches as day deltas (migration `special_listed_counters`).
diesel::table! {
    special_listed_days (day, grouping, unit) {
        day -> Date,
        grouping -> Text,
        unit -> Text,
        n -> Integer,
    }
}

diesel::table! {
    special_listed_months (month, grouping, unit) {
        month -> Date,
        grouping -> Text,
        unit -> Text,
        n -> Integer,
    }
}

// Issued documents and their number sequences (migration `documents`).
diesel::table! {
    document_sequences (department_id, year, kind) {
        department_id -> Integer,
        year -> Integer,
        kind -> Text,
        last_number -> Integer,
    }
}

diesel::table! {
    documents (id) {
        id -> Integer,
        kind -> Text,
        source_id -> Integer,
        department_id -> Integer,
        region_code -> Text,
        year -> Integer,
        number -> Integer,
        document_number -> Text,
        issued_on -> Date,
        issued_at -> Timestamp,
        issued_by -> Integer,
        title -> Text,
        content -> Text,
        sha256 -> Text,
    }
}

// Evaluation-table attestations (migration `scorecard_attestations`).
diesel::table! {
    scorecard_attestations (id) {
        id -> Integer,
        indicator -> Text,
        department_id -> Nullable<Integer>,
        region_code -> Text,
        year -> Integer,
        quarter -> Integer,
        points_tenths -> Integer,
        document_title -> Text,
        document_number -> Nullable<Text>,
        document_date -> Date,
        note -> Nullable<Text>,
        attachment_id -> Nullable<Integer>,
        recorded_by -> Integer,
        created_at -> Timestamp,
        superseded_by -> Nullable<Integer>,
        superseded_at -> Nullable<Timestamp>,
    }
}
